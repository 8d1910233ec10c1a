//! The `verify` binary; everything lives in the library.

fn main() {
    std::process::exit(verify::main_with_args(std::env::args_os()));
}
