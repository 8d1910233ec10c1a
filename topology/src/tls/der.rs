//! Just enough DER to read a certificate's validity period.
//!
//! rustls verifies chains but does not say when a certificate expires;
//! the `tls.certificate` check needs the days left. An X.509 certificate is
//! `SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serial
//! INTEGER, signature SEQUENCE, issuer SEQUENCE, validity SEQUENCE {
//! notBefore Time, notAfter Time }, … }, … }` (RFC 5280 §4.1), with Time a
//! UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or a GeneralizedTime
//! (`YYYYMMDDHHMMSSZ`).

use super::Validity;

/// One TLV: (tag, contents, rest of the input).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The validity of a DER certificate, or `None` when it does not parse.
pub fn validity(cert: &[u8]) -> Option<Validity> {
    let (tag, certificate, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after; // explicit version
    }
    for _ in 0..3 {
        // serial, signature algorithm, issuer
        let (_, _, after) = tlv(rest)?;
        rest = after;
    }
    let (tag, validity, _) = tlv(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (t1, not_before, after) = tlv(validity)?;
    let (t2, not_after, _) = tlv(after)?;
    Some(Validity {
        not_before: time(t1, not_before)?,
        not_after: time(t2, not_after)?,
    })
}

fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Seconds since the Unix epoch of a UTCTime or GeneralizedTime in `Z`.
fn time(tag: u8, s: &[u8]) -> Option<i64> {
    let (year, rest) = match tag {
        UTC_TIME if s.len() == 13 => {
            let yy = digits(&s[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        GENERALIZED_TIME if s.len() == 15 => (digits(&s[..4])?, &s[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// well-known civil-date algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_time_forms() {
        assert_eq!(time(UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(
            time(GENERALIZED_TIME, b"20000301000000Z"),
            Some(951_868_800)
        );
        assert_eq!(time(UTC_TIME, b"700101000000+0100"), None);
        assert_eq!(time(UTC_TIME, b"701301000000Z"), None);
    }

    #[test]
    fn reads_the_validity_of_a_generated_certificate() {
        let params = {
            let mut p = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
            p.not_before = rcgen::date_time_ymd(2024, 2, 29);
            p.not_after = rcgen::date_time_ymd(2051, 1, 2);
            p
        };
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let v = validity(cert.der()).unwrap();
        assert_eq!(v.not_before, 1_709_164_800);
        // 2051 is past UTCTime's range: rcgen writes a GeneralizedTime.
        assert_eq!(v.not_after, 2_556_230_400);
        assert_eq!(v.days_left(v.not_after - 86_400), 1);
        assert_eq!(v.days_left(v.not_after + 1), -1);
        assert_eq!(validity(&cert.der()[..40]), None);
        assert_eq!(validity(b"\x02\x01\x00"), None);
    }
}
