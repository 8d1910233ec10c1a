//! Known Redis CVEs and the releases that fix them.
//!
//! Figures are from the Redis security advisories (GitHub advisories of
//! redis/redis) and release notes. A version is affected when it is at or
//! above `introduced` and below the fix of its own release line; a release
//! line older than every fixed line reached end of life without the fix and
//! is affected too. Distributions (Debian, Ubuntu, RHEL) backport fixes
//! without changing the upstream version, so a match is a warning to check
//! the vendor's advisory, not proof.

use crate::info::parse_version;

/// One advisory.
#[derive(Debug)]
pub struct Cve {
    /// CVE id.
    pub id: &'static str,
    /// Short description.
    pub summary: &'static str,
    /// First affected version.
    pub introduced: (u32, u32, u32),
    /// The first fixed version of each release line.
    pub fixed: &'static [(u32, u32, u32)],
}

/// The table, newest first.
pub const CVES: &[Cve] = &[
    Cve {
        id: "CVE-2025-49844",
        summary: "Lua use-after-free via a crafted script (\"RediShell\"), remote code execution by an authenticated user",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 20), (7, 2, 11), (7, 4, 6), (8, 0, 4), (8, 2, 2)],
    },
    Cve {
        id: "CVE-2025-46817",
        summary: "Lua unpack() integer overflow, possible remote code execution",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 20), (7, 2, 11), (7, 4, 6), (8, 0, 4), (8, 2, 2)],
    },
    Cve {
        id: "CVE-2025-46818",
        summary: "Lua metatable manipulation runs code in another user's context",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 20), (7, 2, 11), (7, 4, 6), (8, 0, 4), (8, 2, 2)],
    },
    Cve {
        id: "CVE-2025-46819",
        summary: "Lua parser out-of-bounds read, crash",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 20), (7, 2, 11), (7, 4, 6), (8, 0, 4), (8, 2, 2)],
    },
    Cve {
        id: "CVE-2025-32023",
        summary: "HyperLogLog out-of-bounds write, possible remote code execution",
        introduced: (2, 8, 0),
        fixed: &[(6, 2, 19), (7, 2, 10), (7, 4, 5), (8, 0, 3)],
    },
    Cve {
        id: "CVE-2025-21605",
        summary: "unauthenticated clients can grow the output buffer without limit",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 18), (7, 2, 8), (7, 4, 3)],
    },
    Cve {
        id: "CVE-2024-46981",
        summary: "Lua garbage collector use-after-free, possible remote code execution",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 17), (7, 2, 7), (7, 4, 2)],
    },
    Cve {
        id: "CVE-2024-31449",
        summary: "Lua bit library stack overflow",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 16), (7, 2, 6), (7, 4, 1)],
    },
    Cve {
        id: "CVE-2024-31228",
        summary: "unbounded pattern matching denial of service",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 16), (7, 2, 6), (7, 4, 1)],
    },
    Cve {
        id: "CVE-2024-31227",
        summary: "malformed ACL selector crashes the server",
        introduced: (7, 0, 0),
        fixed: &[(7, 2, 6), (7, 4, 1)],
    },
    Cve {
        id: "CVE-2023-45145",
        summary: "race on Unix socket permissions at startup",
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 14), (7, 0, 14), (7, 2, 2)],
    },
    Cve {
        id: "CVE-2023-41056",
        summary: "buffer resize integer overflow, possible remote code execution",
        introduced: (7, 0, 9),
        fixed: &[(7, 0, 15), (7, 2, 4)],
    },
    Cve {
        id: "CVE-2023-41053",
        summary: "SORT_RO bypasses ACL key restrictions",
        introduced: (7, 0, 0),
        fixed: &[(7, 0, 13), (7, 2, 1)],
    },
    Cve {
        id: "CVE-2022-24834",
        summary: "Lua cjson/cmsgpack heap overflow, possible remote code execution",
        introduced: (2, 6, 0),
        fixed: &[(6, 0, 20), (6, 2, 13), (7, 0, 12)],
    },
];

/// Whether `version` is affected by `cve`.
pub fn affects(cve: &Cve, version: (u32, u32, u32)) -> bool {
    if version < cve.introduced {
        return false;
    }
    let line = (version.0, version.1);
    if let Some(fix) = cve.fixed.iter().find(|f| (f.0, f.1) == line) {
        return version < *fix;
    }
    // No fix on this line: affected if a newer line needed one (this line
    // reached end of life unfixed), not affected if the line is newer than
    // every fixed line (released after the fix).
    cve.fixed.iter().any(|f| (f.0, f.1) > line)
}

/// The CVEs affecting a version string; `None` when it does not parse.
pub fn affecting(version: &str) -> Option<Vec<&'static Cve>> {
    let v = parse_version(version)?;
    Some(CVES.iter().filter(|c| affects(c, v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &str) -> Vec<&'static str> {
        affecting(v).unwrap().iter().map(|c| c.id).collect()
    }

    #[test]
    fn debian_bookworm_version_is_flagged_for_the_lua_cves() {
        let found = ids("7.0.15");
        assert!(found.contains(&"CVE-2025-49844"));
        assert!(found.contains(&"CVE-2024-46981"));
        // Fixed in 7.0.15 itself.
        assert!(!found.contains(&"CVE-2023-41056"));
    }

    #[test]
    fn patched_lines_are_clean() {
        assert!(ids("7.4.6").is_empty(), "{:?}", ids("7.4.6"));
        assert!(ids("8.2.2").is_empty());
        assert!(ids("6.2.20").is_empty());
    }

    #[test]
    fn one_patch_behind_is_flagged() {
        assert_eq!(
            ids("7.4.5")[..4],
            [
                "CVE-2025-49844",
                "CVE-2025-46817",
                "CVE-2025-46818",
                "CVE-2025-46819"
            ]
        );
        assert!(ids("8.2.1").contains(&"CVE-2025-49844"));
    }

    #[test]
    fn newer_lines_are_not_flagged() {
        assert!(ids("8.4.0").is_empty());
    }

    #[test]
    fn introduced_bounds_apply() {
        assert!(!ids("6.2.14").contains(&"CVE-2024-31227"));
    }
}
