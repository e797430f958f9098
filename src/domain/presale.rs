//! Presales: a window before a concert's general sale in which fans holding an access
//! code may book, each code good for a number of bookings.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::{Invalid, Validator};

/// Most codes one presale is made with (more: make another presale).
pub const MAX_CODES: usize = 1000;
/// Most bookings one code may make.
pub const MAX_USES_PER_CODE: i64 = 10_000;
/// The letters generated codes are made of: no `0`/`O`, `1`/`I`, easy to read out and type.
const READABLE: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// How long a generated code is (32^10 codes: not guessed by trying).
const GENERATED_LENGTH: usize = 10;

/// An access code as stored and matched: 4–32 capital letters, digits or `-`. What a fan
/// or promoter types is trimmed and upper-cased first, so codes match regardless of case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessCode(String);

impl AccessCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim().to_ascii_uppercase();
        if !(4..=32).contains(&code.len()) {
            return Err("must be 4 to 32 characters".into());
        }
        if !code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') {
            return Err("may hold only letters, digits and '-'".into());
        }
        Ok(Self(code))
    }

    /// A new random code of readable characters.
    pub fn generate(rng: &mut impl Rng) -> Self {
        let code =
            (0..GENERATED_LENGTH).map(|_| READABLE[rng.gen_range(0..READABLE.len())] as char).collect();
        Self(code)
    }

    /// A code read back from the database (stored by [`AccessCode::parse`] or
    /// [`AccessCode::generate`]).
    pub fn stored(code: String) -> Self {
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccessCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A presale as asked for, before it is checked.
#[derive(Debug, Default)]
pub struct PresaleInput<'a> {
    pub name: Option<&'a str>,
    pub opens_at: Option<&'a str>,
    pub closes_at: Option<&'a str>,
    /// Codes given by the promoter…
    pub codes: Option<Vec<&'a str>>,
    /// …or how many to generate.
    pub count: Option<i64>,
    pub max_uses_per_code: Option<i64>,
}

/// A valid presale of a concert, with its codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresaleSpec {
    pub name: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub max_uses_per_code: i64,
    pub codes: Vec<AccessCode>,
}

impl PresaleSpec {
    /// Validates a presale of a concert whose general sale opens at `sales_open_at`
    /// (`None`: the concert is on sale from its creation, so it has no time for a
    /// presale), at `now`. Codes are given or generated with `rng`, never both.
    pub fn parse(
        input: PresaleInput<'_>,
        sales_open_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<Self, Invalid> {
        let mut v = Validator::default();
        let name = v.require("name", input.name, |s| {
            let name = s.trim();
            match name.chars().count() {
                0 => Err("must not be empty".into()),
                1..=100 => Ok(name.to_owned()),
                _ => Err("must be at most 100 characters".into()),
            }
        });
        let time = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| "must be an RFC 3339 time, e.g. 2027-04-01T10:00:00Z".to_owned())
        };
        let opens_at = v.require("opensAt", input.opens_at, time);
        let closes_at = v.require("closesAt", input.closes_at, |s| {
            time(s).and_then(|t| if t <= now { Err("must be in the future".into()) } else { Ok(t) })
        });
        if let (Some(opens), Some(closes)) = (opens_at, closes_at) {
            if opens >= closes {
                v.reject("closesAt", "must be after opensAt");
            }
            match sales_open_at {
                None => v.reject(
                    "closesAt",
                    "the concert has no salesOpenAt: it is on sale already (set salesOpenAt first)",
                ),
                Some(general) if closes > general => v.reject(
                    "closesAt",
                    format!(
                        "must not be after the concert's salesOpenAt ({})",
                        general.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ),
                Some(_) => {}
            }
        }
        let max_uses_per_code = v.check(
            "maxUsesPerCode",
            match input.max_uses_per_code {
                Some(n @ 1..=MAX_USES_PER_CODE) => Ok(n),
                Some(_) => Err(format!("must be 1 to {MAX_USES_PER_CODE}")),
                None => Err("is required".into()),
            },
        );
        let codes = match (input.codes, input.count) {
            (Some(_), Some(_)) => {
                v.reject("codes", "send either codes or count, not both");
                None
            }
            (None, None) => {
                v.reject("codes", "is required (or count, to have codes generated)");
                None
            }
            (Some(given), None) => given_codes(&mut v, given),
            (None, Some(count)) => match usize::try_from(count) {
                Ok(n @ 1..=MAX_CODES) => Some(generated_codes(n, rng)),
                _ => {
                    v.reject("count", format!("must be 1 to {MAX_CODES}"));
                    None
                }
            },
        };
        let parts = name.zip(opens_at).zip(closes_at).zip(max_uses_per_code).zip(codes);
        let ((((name, opens_at), closes_at), max_uses_per_code), codes) = v.finish_with(parts)?;
        Ok(Self { name, opens_at, closes_at, max_uses_per_code, codes })
    }
}

/// The promoter's codes: each valid, none twice (regardless of case).
fn given_codes(v: &mut Validator, given: Vec<&str>) -> Option<Vec<AccessCode>> {
    if given.is_empty() {
        v.reject("codes", "must name at least one code");
        return None;
    }
    if given.len() > MAX_CODES {
        v.reject("codes", format!("must name at most {MAX_CODES} codes"));
        return None;
    }
    let mut seen = HashSet::new();
    let mut codes = Vec::with_capacity(given.len());
    let mut ok = true;
    for (i, raw) in given.into_iter().enumerate() {
        match AccessCode::parse(raw) {
            Ok(code) if !seen.insert(code.clone()) => {
                v.reject(&format!("codes[{i}]"), format!("code {code} is named twice"));
                ok = false;
            }
            Ok(code) => codes.push(code),
            Err(message) => {
                v.reject(&format!("codes[{i}]"), message);
                ok = false;
            }
        }
    }
    ok.then_some(codes)
}

/// `n` distinct random codes.
fn generated_codes(n: usize, rng: &mut impl Rng) -> Vec<AccessCode> {
    let mut seen = HashSet::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    while codes.len() < n {
        let code = AccessCode::generate(rng);
        if seen.insert(code.clone()) {
            codes.push(code);
        }
    }
    codes
}

/// A presale code a booking sent, as the concert has it stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresaleCode {
    pub id: i64,
    /// Its presale's window.
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// Bookings made with it so far, and the most it may make.
    pub uses: i64,
    pub max_uses: i64,
}

/// What a booking brings to be let in before the general sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No access code (or one sent once the general sale is open, when codes are ignored).
    None,
    /// An access code, and the concert's code of that text (`None`: it has no such code).
    Code(Option<PresaleCode>),
}

/// How a booking was let in: at the general sale, or through a presale, whose code's use
/// is counted with the booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    General,
    Presale { code_id: i64 },
}

impl Admission {
    /// The code whose use the booking counts, if any.
    pub fn code_id(self) -> Option<i64> {
        match self {
            Admission::General => None,
            Admission::Presale { code_id } => Some(code_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn fields(err: Invalid) -> Vec<String> {
        err.0.into_iter().map(|e| e.field).collect()
    }

    fn input<'a>(codes: Option<Vec<&'a str>>, count: Option<i64>) -> PresaleInput<'a> {
        PresaleInput {
            name: Some(" Fan club "),
            opens_at: Some("2098-01-01T10:00:00Z"),
            closes_at: Some("2098-01-02T10:00:00Z"),
            codes,
            count,
            max_uses_per_code: Some(2),
        }
    }

    fn parse(input: PresaleInput<'_>) -> Result<PresaleSpec, Invalid> {
        let general = "2098-01-03T10:00:00Z".parse().ok();
        PresaleSpec::parse(input, general, Utc::now(), &mut rand::rngs::StdRng::seed_from_u64(7))
    }

    #[test]
    fn codes_are_trimmed_and_matched_regardless_of_case() {
        assert_eq!(AccessCode::parse(" fan-Club-1 ").unwrap().as_str(), "FAN-CLUB-1");
        assert!(AccessCode::parse("abc").is_err());
        assert!(AccessCode::parse("with space").is_err());
        assert!(AccessCode::parse(&"X".repeat(33)).is_err());
        assert!(AccessCode::parse("ÄÖÜ-CODE").is_err());
    }

    #[test]
    fn generated_codes_are_readable_distinct_and_valid() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let codes = generated_codes(500, &mut rng);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 500);
        for code in &codes {
            assert_eq!(code.as_str().len(), GENERATED_LENGTH);
            assert_eq!(AccessCode::parse(code.as_str()).as_ref(), Ok(code));
            assert!(!code.as_str().contains(['0', 'O', '1', 'I']), "{code}");
        }
    }

    #[test]
    fn a_presale_has_given_or_generated_codes() {
        let given = parse(input(Some(vec!["alpha", "BRAVO"]), None)).unwrap();
        assert_eq!(given.name, "Fan club");
        assert_eq!(given.codes.iter().map(AccessCode::as_str).collect::<Vec<_>>(), ["ALPHA", "BRAVO"]);
        assert_eq!(parse(input(None, Some(3))).unwrap().codes.len(), 3);
        assert_eq!(fields(parse(input(Some(vec!["ALPHA"]), Some(3))).unwrap_err()), ["codes"]);
        assert_eq!(fields(parse(input(None, None)).unwrap_err()), ["codes"]);
        assert_eq!(fields(parse(input(Some(vec![]), None)).unwrap_err()), ["codes"]);
        assert_eq!(fields(parse(input(None, Some(0))).unwrap_err()), ["count"]);
        let twice = parse(input(Some(vec!["alpha", "ALPHA ", "x"]), None)).unwrap_err();
        assert_eq!(fields(twice), ["codes[1]", "codes[2]"]);
    }

    #[test]
    fn a_presale_opens_before_it_closes_and_closes_by_the_general_sale() {
        let mut backwards = input(None, Some(1));
        backwards.opens_at = Some("2098-01-02T10:00:00Z");
        assert_eq!(fields(parse(backwards).unwrap_err()), ["closesAt"]);
        let mut late = input(None, Some(1));
        late.closes_at = Some("2098-01-03T10:00:01Z");
        assert_eq!(fields(parse(late).unwrap_err()), ["closesAt"]);
        let mut to_the_second = input(None, Some(1));
        to_the_second.closes_at = Some("2098-01-03T10:00:00Z");
        assert!(parse(to_the_second).is_ok(), "it may close as the general sale opens");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let no_general = PresaleSpec::parse(input(None, Some(1)), None, Utc::now(), &mut rng).unwrap_err();
        assert_eq!(fields(no_general), ["closesAt"]);
        let mut past = input(None, Some(1));
        (past.opens_at, past.closes_at) = (Some("2001-01-01T00:00:00Z"), Some("2002-01-01T00:00:00Z"));
        assert_eq!(fields(parse(past).unwrap_err()), ["closesAt"]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = PresaleInput {
            name: Some("  "),
            opens_at: Some("soon"),
            closes_at: None,
            codes: None,
            count: Some(1),
            max_uses_per_code: Some(0),
        };
        assert_eq!(fields(parse(bad).unwrap_err()), ["name", "opensAt", "closesAt", "maxUsesPerCode"]);
    }
}
