//! Known Redis CVEs per release branch, the releases that fix them, which
//! branches are still maintained, and vendor builds known to carry fixes.
//!
//! Every row names its source: the upstream release notes
//! (`00-RELEASENOTES` of the branch, also published as GitHub releases of
//! redis/redis) of the first fixed release. A version is affected when it is
//! at or above `introduced` and below the fix of its own branch; a branch
//! older than every fixed branch and without a fix of its own reached end of
//! life unfixed (or was not patched) and is affected too, the conservative
//! reading. A branch newer than [`NEWEST_BRANCH`] is unknown, never clean.
//!
//! Distributions backport fixes without changing the version string; the
//! verifier cannot see a backport from the network. [`VENDOR_BUILDS`] lists
//! builds whose package changelog was read, recognised by
//! `redis_build_id` (unique per compiled binary).

use crate::info::parse_version;

/// One advisory.
#[derive(Debug)]
pub struct Cve {
    /// CVE id (or a description where the release notes give none).
    pub id: &'static str,
    /// Short description.
    pub summary: &'static str,
    /// Reached through Lua scripting (EVAL, FUNCTION): exposure depends on
    /// who may run scripts.
    pub lua: bool,
    /// First affected version.
    pub introduced: (u32, u32, u32),
    /// The first fixed version of each release branch.
    pub fixed: &'static [(u32, u32, u32)],
    /// Where the fixed versions come from.
    pub source: &'static str,
}

/// The newest release branch this table knows; newer branches are unknown.
pub const NEWEST_BRANCH: (u32, u32) = (8, 2);

/// Branches that still receive fixes as of the table's newest row
/// (August 2026): 6.2, 7.2, 7.4 and 8.2 got releases in 2026; 7.0 had none
/// after 7.0.15 and 8.0 ended with 8.0.6.
pub const MAINTAINED: &[(u32, u32)] = &[(6, 2), (7, 2), (7, 4), (8, 2)];

const LUA_2025: &[(u32, u32, u32)] = &[(6, 2, 20), (7, 2, 11), (7, 4, 6), (8, 0, 4), (8, 2, 2)];
const SRC_LUA_2025: &str = "release notes 6.2.20, 7.2.11, 7.4.6, 8.0.4, 8.2.2 (October 2025)";

/// The table, newest first.
pub const CVES: &[Cve] = &[
    Cve {
        id: "CVE-2026-62356",
        summary: "ACL bypass through SORT, GEORADIUS and XREAD key arguments (with the August 2026 ACL fixes)",
        lua: false,
        introduced: (7, 0, 0),
        fixed: &[(7, 4, 11), (8, 2, 9)],
        source: "release notes 7.4.11, 8.2.9 (August 2026)",
    },
    Cve {
        id: "stream RESTORE (July 2026, no CVE id in the release notes)",
        summary: "crafted stream payload in RESTORE corrupts memory",
        lua: false,
        introduced: (5, 0, 0),
        fixed: &[(6, 2, 23), (7, 2, 15), (7, 4, 10), (8, 2, 8)],
        source: "release notes 6.2.23, 7.2.15, 7.4.10, 8.2.8 (July 2026)",
    },
    Cve {
        id: "CVE-2026-23631",
        summary: "replica use-after-free triggered through the replication stream by a Lua user",
        lua: true,
        introduced: (2, 6, 0),
        fixed: &[(7, 4, 9), (8, 2, 6)],
        source: "release notes 7.4.9, 8.2.6 (2026)",
    },
    Cve {
        id: "CVE-2026-25243",
        summary: "RESTORE does not validate serialized values, possible remote code execution",
        lua: false,
        introduced: (2, 6, 0),
        fixed: &[(7, 4, 9), (8, 2, 6)],
        source: "release notes 7.4.9, 8.2.6 (2026)",
    },
    Cve {
        id: "CVE-2026-23479",
        summary: "use-after-free in the unblock-client flow",
        lua: false,
        introduced: (2, 6, 0),
        fixed: &[(7, 4, 9), (8, 2, 6)],
        source: "release notes 7.4.9, 8.2.6 (2026)",
    },
    Cve {
        id: "CVE-2025-67733",
        summary: "CR/LF injection into replies through Lua error_reply (the February 2026 CRLF fix)",
        lua: true,
        introduced: (2, 6, 0),
        fixed: &[(7, 2, 13), (7, 4, 8), (8, 0, 6), (8, 2, 5)],
        source: "release notes 7.2.13, 7.4.8, 8.0.6, 8.2.5 (February 2026); id from Debian's changelog",
    },
    Cve {
        id: "CVE-2025-62507",
        summary: "8.2-only memory-safety flaw",
        lua: false,
        introduced: (8, 2, 0),
        fixed: &[(8, 2, 3)],
        source: "release notes 8.2.3",
    },
    Cve {
        id: "CVE-2025-49844",
        summary: "Lua use-after-free via a crafted script (\"RediShell\"), remote code execution by an authenticated user",
        lua: true,
        introduced: (2, 6, 0),
        fixed: LUA_2025,
        source: SRC_LUA_2025,
    },
    Cve {
        id: "CVE-2025-46817",
        summary: "Lua unpack() integer overflow, possible remote code execution",
        lua: true,
        introduced: (2, 6, 0),
        fixed: LUA_2025,
        source: SRC_LUA_2025,
    },
    Cve {
        id: "CVE-2025-46818",
        summary: "Lua metatable manipulation runs code in another user's context",
        lua: true,
        introduced: (2, 6, 0),
        fixed: LUA_2025,
        source: SRC_LUA_2025,
    },
    Cve {
        id: "CVE-2025-46819",
        summary: "Lua parser out-of-bounds read, crash",
        lua: true,
        introduced: (2, 6, 0),
        fixed: LUA_2025,
        source: SRC_LUA_2025,
    },
    Cve {
        id: "CVE-2025-32023",
        summary: "HyperLogLog out-of-bounds write, possible remote code execution",
        lua: false,
        introduced: (2, 8, 0),
        fixed: &[(6, 2, 19), (7, 2, 10), (7, 4, 5), (8, 0, 3), (8, 2, 0)],
        source: "release notes 6.2.19, 7.2.10, 7.4.5, 8.0.3 (July 2025)",
    },
    Cve {
        id: "CVE-2025-48367",
        summary: "unauthenticated connections can make the server spin on accept errors",
        lua: false,
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 19), (7, 2, 10), (7, 4, 5), (8, 0, 3), (8, 2, 0)],
        source: "release notes 6.2.19, 7.2.10, 7.4.5, 8.0.3 (July 2025)",
    },
    Cve {
        id: "CVE-2025-21605",
        summary: "unauthenticated clients can grow the output buffer without limit",
        lua: false,
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 18), (7, 2, 8), (7, 4, 3), (8, 0, 0)],
        source: "release notes 6.2.18, 7.2.8, 7.4.3 (April 2025)",
    },
    Cve {
        id: "CVE-2024-46981",
        summary: "Lua garbage collector use-after-free, possible remote code execution",
        lua: true,
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 17), (7, 2, 7), (7, 4, 2)],
        source: "release notes 6.2.17, 7.2.7, 7.4.2 (January 2025)",
    },
    Cve {
        id: "CVE-2024-31449",
        summary: "Lua bit library stack overflow",
        lua: true,
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 16), (7, 2, 6), (7, 4, 1)],
        source: "release notes 6.2.16, 7.2.6, 7.4.1 (October 2024)",
    },
    Cve {
        id: "CVE-2024-31228",
        summary: "unbounded pattern matching denial of service",
        lua: false,
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 16), (7, 2, 6), (7, 4, 1)],
        source: "release notes 6.2.16, 7.2.6, 7.4.1 (October 2024)",
    },
    Cve {
        id: "CVE-2024-31227",
        summary: "malformed ACL selector crashes the server",
        lua: false,
        introduced: (7, 0, 0),
        fixed: &[(7, 2, 6), (7, 4, 1)],
        source: "release notes 7.2.6, 7.4.1 (October 2024)",
    },
    Cve {
        id: "CVE-2023-45145",
        summary: "race on Unix socket permissions at startup",
        lua: false,
        introduced: (2, 6, 0),
        fixed: &[(6, 2, 14), (7, 0, 14), (7, 2, 2)],
        source: "release notes 6.2.14, 7.0.14, 7.2.2 (October 2023)",
    },
    Cve {
        id: "CVE-2023-41056",
        summary: "buffer resize integer overflow, possible remote code execution",
        lua: false,
        introduced: (7, 0, 9),
        fixed: &[(7, 0, 15), (7, 2, 4)],
        source: "release notes 7.0.15, 7.2.4 (January 2024)",
    },
    Cve {
        id: "CVE-2023-41053",
        summary: "SORT_RO bypasses ACL key restrictions",
        lua: false,
        introduced: (7, 0, 0),
        fixed: &[(7, 0, 13), (7, 2, 1)],
        source: "release notes 7.0.13, 7.2.1 (September 2023)",
    },
    Cve {
        id: "CVE-2022-24834",
        summary: "Lua cjson/cmsgpack heap overflow, possible remote code execution",
        lua: true,
        introduced: (2, 6, 0),
        fixed: &[(6, 0, 20), (6, 2, 13), (7, 0, 12)],
        source: "release notes 6.0.20, 6.2.13, 7.0.12 (July 2023)",
    },
];

/// Valkey branches [`VALKEY_CVES`] has complete rows for; other Valkey
/// branches are unknown.
pub const VALKEY_BRANCHES: &[(u32, u32)] = &[(8, 1)];

/// Valkey's own advisories (its versions, its release notes), for the
/// branches in [`VALKEY_BRANCHES`].
pub const VALKEY_CVES: &[Cve] = &[
    Cve {
        id: "CVE-2026-23631",
        summary: "use-after-free when a full sync happens during a yielding Lua script or function",
        lua: true,
        introduced: (7, 2, 0),
        fixed: &[(8, 0, 8), (8, 1, 7)],
        source: "release notes Valkey 8.0.8, 8.1.7 (May 2026)",
    },
    Cve {
        id: "CVE-2026-25243",
        summary: "invalid memory access in RESTORE",
        lua: false,
        introduced: (7, 2, 0),
        fixed: &[(8, 0, 8), (8, 1, 7)],
        source: "release notes Valkey 8.0.8, 8.1.7 (May 2026)",
    },
    Cve {
        id: "CVE-2026-23479",
        summary: "use-after-free in the unblock-client flow",
        lua: false,
        introduced: (7, 2, 0),
        fixed: &[(8, 0, 8), (8, 1, 7)],
        source: "release notes Valkey 8.0.8, 8.1.7 (May 2026)",
    },
    Cve {
        id: "CVE-2025-49844",
        summary: "Lua use-after-free (\"RediShell\"), with CVE-2025-46817, -46818, -46819",
        lua: true,
        introduced: (7, 2, 0),
        fixed: &[(8, 1, 4)],
        source: "release notes Valkey 8.1.4 (October 2025)",
    },
];

/// The rows of `table` affecting `version`.
pub fn affecting_in(table: &'static [Cve], version: (u32, u32, u32)) -> Vec<&'static Cve> {
    table.iter().filter(|c| affects(c, version)).collect()
}

/// A vendor build whose package changelog was read.
#[derive(Debug)]
pub struct VendorBuild {
    /// `redis_version` it reports.
    pub version: &'static str,
    /// `redis_build_id` it reports.
    pub build_id: &'static str,
    /// The package.
    pub package: &'static str,
    /// CVEs its changelog says are fixed.
    pub fixed: &'static [&'static str],
}

/// Known vendor builds.
pub const VENDOR_BUILDS: &[VendorBuild] = &[VendorBuild {
    version: "7.0.15",
    build_id: "ae4d7c971a948f0",
    package: "Debian 12 redis-server 5:7.0.15-1~deb12u10 (this project's CI and offline image)",
    // From /usr/share/doc/redis-server/changelog.Debian.gz of that package.
    fixed: &[
        "CVE-2022-24834",
        "CVE-2023-41053",
        "CVE-2023-41056",
        "CVE-2023-45145",
        "CVE-2024-31227",
        "CVE-2024-31228",
        "CVE-2024-31449",
        "CVE-2024-46981",
        "CVE-2025-21605",
        "CVE-2025-32023",
        "CVE-2025-46817",
        "CVE-2025-46818",
        "CVE-2025-46819",
        "CVE-2025-48367",
        "CVE-2025-49844",
        "CVE-2025-67733",
        "CVE-2026-23631",
        "CVE-2026-25243",
    ],
}];

/// The vendor build with this version and build id, if known.
pub fn vendor_build(version: &str, build_id: &str) -> Option<&'static VendorBuild> {
    VENDOR_BUILDS
        .iter()
        .find(|b| b.version == version && b.build_id == build_id)
}

/// What the table can say about a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch {
    /// Still receives fixes.
    Maintained,
    /// End of life upstream.
    EndOfLife,
    /// Newer than the table.
    Unknown,
}

/// The state of a version's branch.
pub fn branch(version: (u32, u32, u32)) -> Branch {
    let b = (version.0, version.1);
    if b > NEWEST_BRANCH {
        Branch::Unknown
    } else if MAINTAINED.contains(&b) {
        Branch::Maintained
    } else {
        Branch::EndOfLife
    }
}

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
        assert!(ids("7.4.11").is_empty(), "{:?}", ids("7.4.11"));
        assert!(ids("8.2.9").is_empty(), "{:?}", ids("8.2.9"));
        // 6.2 got the 2025 Lua and July 2026 fixes, not the 7.4/8.2-only
        // 2026 ones (conservatively affected).
        let six = ids("6.2.23");
        assert!(!six.contains(&"CVE-2025-49844"));
        assert!(six.contains(&"CVE-2026-25243"));
    }

    #[test]
    fn every_row_has_a_source_and_sorted_fixes() {
        for c in CVES {
            assert!(c.source.starts_with("release notes"), "{}", c.id);
            assert!(c.fixed.windows(2).all(|w| w[0] < w[1]), "{}", c.id);
        }
    }

    #[test]
    fn branches_are_maintained_eol_or_unknown() {
        assert_eq!(branch((7, 0, 15)), Branch::EndOfLife);
        assert_eq!(branch((8, 0, 6)), Branch::EndOfLife);
        assert_eq!(branch((7, 4, 2)), Branch::Maintained);
        assert_eq!(branch((8, 4, 0)), Branch::Unknown);
        assert_eq!(branch((9, 0, 0)), Branch::Unknown);
    }

    #[test]
    fn the_debian_build_is_recognised_only_by_its_build_id() {
        assert!(vendor_build("7.0.15", "ae4d7c971a948f0").is_some());
        assert!(vendor_build("7.0.15", "0000000000000000").is_none());
    }

    #[test]
    fn one_patch_behind_is_flagged() {
        let found = ids("7.4.5");
        for id in [
            "CVE-2025-49844",
            "CVE-2025-46817",
            "CVE-2025-46818",
            "CVE-2025-46819",
        ] {
            assert!(found.contains(&id), "{id}");
        }
        assert!(!found.contains(&"CVE-2025-32023"));
        assert!(ids("8.2.1").contains(&"CVE-2025-49844"));
        assert_eq!(ids("8.2.8"), ["CVE-2026-62356"]);
    }

    #[test]
    fn valkey_rows_are_judged_by_valkey_versions() {
        let ids = |v| -> Vec<&str> { affecting_in(VALKEY_CVES, v).iter().map(|c| c.id).collect() };
        assert!(ids((8, 1, 3)).contains(&"CVE-2025-49844"));
        assert_eq!(ids((8, 1, 4)).len(), 3);
        assert!(ids((8, 1, 7)).is_empty());
    }

    #[test]
    fn introduced_bounds_apply() {
        assert!(!ids("6.2.14").contains(&"CVE-2024-31227"));
    }
}
