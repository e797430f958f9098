//! Accounts: usernames, passwords, emails, nicknames and roles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an account may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// A fan: every signup.
    User,
    /// A promoter: manages own auditoriums and concerts.
    CompanyUser,
    /// An operator: everything, on anyone's data.
    Admin,
}

impl Role {
    /// The name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "USER",
            Role::CompanyUser => "COMPANY_USER",
            Role::Admin => "ADMIN",
        }
    }

    /// Whether this role includes everything `other` may do.
    pub fn includes(self, other: Role) -> bool {
        self >= other
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "USER" => Ok(Role::User),
            "COMPANY_USER" => Ok(Role::CompanyUser),
            "ADMIN" => Ok(Role::Admin),
            _ => Err("must be one of USER, COMPANY_USER, ADMIN".into()),
        }
    }
}

/// A login name: 3–30 letters, digits, `_`, `.` or `-`; unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(3..=30).contains(&len) {
            return Err("must be 3 to 30 characters".into());
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err("may contain only letters, digits, '_', '.' and '-'".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the rule: 8–64 characters with a letter, a digit and a symbol.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(8..=64).contains(&len) {
            return Err("must be 8 to 64 characters".into());
        }
        let letter = raw.chars().any(char::is_alphabetic);
        let digit = raw.chars().any(|c| c.is_ascii_digit());
        let symbol = raw.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace());
        if !(letter && digit && symbol) {
            return Err("must contain at least one letter, one digit and one symbol".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// An email address in valid format, kept in lower case so uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        // A plain address only: no display names or comments, which the RFC allows.
        let valid = email_address::EmailAddress::parse_with_options(
            raw,
            email_address::Options::default().without_display_text(),
        )
        .is_ok();
        if !valid || raw.contains(char::is_whitespace) {
            return Err("is not a valid email address".into());
        }
        Ok(Self(raw.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 2–20 characters, no control characters; unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nickname(String);

impl Nickname {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let len = raw.chars().count();
        if !(2..=20).contains(&len) {
            return Err("must be 2 to 20 characters".into());
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_needs_letter_digit_and_symbol() {
        assert!(Password::parse("abcdefg1!").is_ok());
        assert!(Password::parse("abcdefgh1").is_err(), "no symbol");
        assert!(Password::parse("abcdefg!!").is_err(), "no digit");
        assert!(Password::parse("1234567!!").is_err(), "no letter");
    }

    #[test]
    fn password_length_is_8_to_64_characters() {
        assert!(Password::parse("ab1!").is_err());
        assert!(Password::parse("abcde1!x").is_ok());
        let long = format!("a1!{}", "x".repeat(61));
        assert_eq!(long.len(), 64);
        assert!(Password::parse(&long).is_ok());
        assert!(Password::parse(&format!("{long}y")).is_err());
    }

    #[test]
    fn password_debug_hides_the_secret() {
        let p = Password::parse("secret12!").unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn username_allows_only_safe_characters() {
        assert!(Username::parse("fan_01.x-y").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse("ünicode").is_err());
        assert!(Username::parse(&"a".repeat(31)).is_err());
    }

    #[test]
    fn email_is_validated_and_lowercased() {
        assert_eq!(Email::parse("Fan@Example.COM").unwrap().as_str(), "fan@example.com");
        for bad in ["", "no-at-sign", "a@", "@b.c", "a b@c.d", "Name <a@b.c>"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn nickname_is_trimmed_and_bounded() {
        assert_eq!(Nickname::parse("  Kim  ").unwrap().as_str(), "Kim");
        assert!(Nickname::parse("x").is_err());
        assert!(Nickname::parse("bad\u{7}bell").is_err());
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Admin.includes(Role::CompanyUser));
        assert!(Role::CompanyUser.includes(Role::User));
        assert!(!Role::User.includes(Role::CompanyUser));
        assert_eq!("COMPANY_USER".parse::<Role>(), Ok(Role::CompanyUser));
        assert!("admin".parse::<Role>().is_err());
    }
}
