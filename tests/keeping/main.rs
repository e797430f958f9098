//! Keeping the embedded database: `tickitecking backup` and `restore` and scheduled
//! backups, run as the real binary beside a real service. A backup taken during a rush
//! holds every booking confirmed before it began; a backup killed halfway harms neither
//! the live database nor the last good backup; a restore refuses corrupt and truncated
//! files, schemas it does not know, and a data dir a service is running on, changing
//! nothing; a bucket that is down fails scheduled backups loudly (log and `/metrics`)
//! and they are tried again while selling goes on. SQLite only: PostgreSQL is backed up
//! with its own tools.
mod backup_in_a_rush;
mod faults;
mod harness;
mod schedule;
