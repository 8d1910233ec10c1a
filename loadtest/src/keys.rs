//! Redis Cluster key slots and hash tags, as the workloads' keys need them.
//!
//! On Redis Cluster a step that sends several keys in one command, Lua
//! script or MULTI/EXEC fails with `CROSSSLOT` unless every key hashes to
//! the same slot. Keys of one step therefore share a *hash tag* (`{…}`):
//! only the tag is hashed. [`tag`] makes one per entity — a lock, an
//! account — so one entity's keys stay together while entities spread over
//! the slots, and so over the nodes.
//!
//! [`slot`] and [`hash_tag`] follow the Redis Cluster specification
//! ("Hash tags", <https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags>):
//! CRC16 (XMODEM) of the key modulo 16384, where the hashed part is the
//! text between the first `{` and the first `}` after it, when that text is
//! not empty, and the whole key otherwise.

use std::fmt::Display;

/// Slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The part of `key` Redis Cluster hashes when it has a tag: between the
/// first `{` and the first `}` after it, if not empty.
pub fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let close = rest.iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &rest[..close])
}

/// The cluster slot of `key`.
pub fn slot(key: &[u8]) -> u16 {
    crc16_xmodem(hash_tag(key).unwrap_or(key)) % SLOTS
}

/// CRC16-CCITT as Redis Cluster uses it (XMODEM: polynomial 0x1021,
/// initial value 0, no reflection, no final XOR).
fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash tag for the keys of one `entity` of a run, `{<run id>:<entity>}`,
/// where `run_prefix` is the run's key prefix (`lt:<run id>:`).
///
/// The run id is part of the tag so that runs sharing a cluster (several
/// load generators whose summaries are merged) put their lock 0 or account 0
/// in different slots, instead of all piling onto one node.
pub fn tag(run_prefix: &str, entity: impl Display) -> String {
    let run = run_prefix.strip_prefix("lt:").unwrap_or(run_prefix);
    let run = run.strip_suffix(':').unwrap_or(run);
    let tag = format!("{{{run}:{entity}}}");
    debug_assert_eq!(
        tag.matches(['{', '}']).count(),
        2,
        "a brace in {run_prefix:?} or the entity would break the tag {tag}"
    );
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_of(key: &str) -> u16 {
        slot(key.as_bytes())
    }

    #[test]
    fn crc16_matches_the_cluster_spec_check_value() {
        // The spec's reference implementation: "123456789" -> 0x31C3.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(crc16_xmodem(b""), 0);
    }

    #[test]
    fn slots_match_what_the_server_says() {
        // Each as `CLUSTER KEYSLOT <key>` answered on redis-server 7.
        for (key, expected) in [
            ("foo", 12182),
            ("bar", 5061),
            ("hello", 866),
            ("123456789", 12739),
            ("{user1000}.following", 3443),
            ("{user1000}.followers", 3443),
            ("foo{}{bar}", 8363),
            ("foo{{bar}}zap", 4015),
            ("lt:0a1b2c3d:lock:{0a1b2c3d:7}:fence", 9181),
        ] {
            assert_eq!(slot_of(key), expected, "{key}");
        }
        assert_eq!(slot_of(""), 0);
    }

    #[test]
    fn hash_tags_follow_the_spec() {
        // Same tag, same slot: the spec's own example.
        assert_eq!(
            slot_of("{user1000}.following"),
            slot_of("{user1000}.followers")
        );
        assert_eq!(slot_of("{user1000}.following"), slot_of("user1000"));
        // An empty first tag: the whole key is hashed.
        assert_eq!(hash_tag(b"foo{}{bar}"), None);
        assert_ne!(slot_of("foo{}{bar}"), slot_of("bar"));
        // The tag ends at the first `}` after the first `{`.
        assert_eq!(hash_tag(b"foo{{bar}}zap"), Some(&b"{bar"[..]));
        assert_eq!(slot_of("foo{{bar}}zap"), slot_of("{bar"));
        assert_eq!(hash_tag(b"foo{bar}{zap}"), Some(&b"bar"[..]));
        assert_eq!(slot_of("foo{bar}{zap}"), slot_of("bar"));
        // No closing brace, or none at all: the whole key.
        assert_eq!(hash_tag(b"foo{bar"), None);
        assert_eq!(hash_tag(b"}foo{"), None);
        assert_eq!(hash_tag(b"foo"), None);
    }

    #[test]
    fn tags_carry_the_run_id_and_the_entity() {
        assert_eq!(tag("lt:0a1b2c3d:", 7), "{0a1b2c3d:7}");
        assert_eq!(tag("lt:test:", "3-1"), "{test:3-1}");
        let run_a = slot_of(&tag("lt:0a1b2c3d:", 0));
        let run_b = slot_of(&tag("lt:99887766:", 0));
        assert_ne!(run_a, run_b, "entity 0 of two runs in one slot");
    }
}
