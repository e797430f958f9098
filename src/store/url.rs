//! The database URL: which backend the service runs on, chosen by the URL scheme.

use anyhow::bail;

/// Which database the service runs on, chosen by the URL scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    /// The primary, and a read replica for queries that tolerate lag.
    Postgres {
        url: String,
        replica: Option<String>,
    },
}

impl DatabaseUrl {
    /// Picks the backend from the scheme; `None` means SQLite in `data_dir`.
    pub fn parse(url: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        match url {
            None => Ok(Self::Sqlite(format!("sqlite://{}", data_dir.join("tickitecking.db").display()))),
            Some(url) if url.starts_with("sqlite:") => Ok(Self::Sqlite(url.to_owned())),
            Some(url) if is_postgres(url) => Ok(Self::Postgres { url: url.to_owned(), replica: None }),
            Some(other) => bail!(
                "unsupported DATABASE_URL {:?}: expected sqlite:… or postgres://…",
                other.split(':').next().unwrap_or_default()
            ),
        }
    }

    /// Adds a read replica; only a PostgreSQL primary can have one.
    pub fn with_replica(self, replica: Option<&str>) -> anyhow::Result<Self> {
        match (self, replica.filter(|r| !r.is_empty())) {
            (db, None) => Ok(db),
            (Self::Postgres { url, .. }, Some(replica)) if is_postgres(replica) => {
                Ok(Self::Postgres { url, replica: Some(replica.to_owned()) })
            }
            (Self::Postgres { .. }, Some(_)) => bail!("DATABASE_REPLICA_URL must be a postgres:// URL"),
            (Self::Sqlite(_), Some(_)) => {
                bail!("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL; SQLite has no replicas")
            }
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A URL with its password, if any, replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((credentials, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// The URL as safe to log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(url) => f.write_str(url),
            DatabaseUrl::Postgres { url, replica: None } => f.write_str(&without_password(url)),
            DatabaseUrl::Postgres { url, replica: Some(replica) } => {
                write!(f, "{}, replica {}", without_password(url), without_password(replica))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_defaults_to_sqlite_in_the_data_dir() {
        let url = DatabaseUrl::parse(None, std::path::Path::new("/tmp/x")).unwrap();
        assert_eq!(url, DatabaseUrl::Sqlite("sqlite:///tmp/x/tickitecking.db".into()));
    }

    #[test]
    fn postgres_urls_select_postgres_with_an_optional_replica() {
        let dir = std::path::Path::new(".");
        for url in ["postgres://u@h/db", "postgresql://u@h/db"] {
            let parsed = DatabaseUrl::parse(Some(url), dir).unwrap();
            assert_eq!(parsed, DatabaseUrl::Postgres { url: url.into(), replica: None });
        }
        let with = DatabaseUrl::parse(Some("postgres://u:secret@p/db"), dir)
            .unwrap()
            .with_replica(Some("postgres://u:secret@r/db"))
            .unwrap();
        assert_eq!(with.to_string(), "postgres://u:***@p/db, replica postgres://u:***@r/db");
        let sqlite = DatabaseUrl::parse(None, dir).unwrap();
        assert!(sqlite.with_replica(Some("postgres://r/db")).is_err(), "SQLite has no replica");
    }

    #[test]
    fn database_url_rejects_unknown_schemes() {
        assert!(DatabaseUrl::parse(Some("mysql://x"), std::path::Path::new(".")).is_err());
    }
}
