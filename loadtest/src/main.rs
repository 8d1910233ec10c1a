//! The `loadtest` binary: everything lives in the library so tests drive it.

fn main() {
    std::process::exit(loadtest::main_with_args(std::env::args_os()));
}
