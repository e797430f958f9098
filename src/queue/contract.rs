//! What every [`Lines`] must do, run by the tests of each kind on a fresh, empty store.

use super::*;

pub const OPEN: i64 = 1_000_000;

pub fn key() -> LineKey {
    LineKey { concert_id: 1, sales_open_ms: OPEN }
}

pub fn at(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap()
}

/// A line refuses until loaded; before sales open its fans hold places from the hash and
/// no index; after, the pre-queue stands by place and arrivals follow; fans are let in in
/// that order.
pub async fn the_prequeue_is_ordered_by_place_then_arrivals_follow(lines: &dyn Lines) {
    assert!(matches!(lines.join(key(), 1, 5, 0).await, Err(LineError::Unloaded)));
    lines.load(key(), Vec::new()).await.unwrap();
    // Before sales open: places from the hash, no index yet.
    let early = lines.join(key(), 10, 300, OPEN - 10).await.unwrap();
    assert!(early.new);
    assert_eq!(early.standing.index, None);
    lines.join(key(), 11, 100, OPEN - 5).await.unwrap();
    lines.join(key(), 12, 200, OPEN - 1).await.unwrap();
    let again = lines.join(key(), 10, 999, OPEN - 1).await.unwrap();
    assert!(!again.new);
    assert_eq!(again.standing.place, 300);
    // After: the pre-queue by place, then arrivals.
    let late = lines.join(key(), 13, 1, OPEN + 1).await.unwrap();
    assert_eq!(late.standing.place, ARRIVALS + 1);
    assert_eq!(late.standing.index, Some(3));
    for (user, index) in [(11, 0), (12, 1), (10, 2)] {
        assert_eq!(lines.standing(key(), user, OPEN + 2).await.unwrap().unwrap().index, Some(index));
    }
    assert_eq!(lines.admit(key(), 2, OPEN + 100).await.unwrap(), vec![11, 12]);
    let first = lines.standing(key(), 11, OPEN + 200).await.unwrap().unwrap();
    assert_eq!(first.admitted_at_ms, Some(OPEN + 100));
    assert_eq!(lines.standing(key(), 10, OPEN + 200).await.unwrap().unwrap().admitted_at_ms, None);
    assert_eq!(lines.counts(key()).await.unwrap(), Counts { joined: 4, admitted: 2 });
    assert_eq!(lines.admit(key(), 5, OPEN + 300).await.unwrap(), vec![10, 13]);
    assert!(lines.admit(key(), 5, OPEN + 400).await.unwrap().is_empty());
}

/// A line loaded from the database keeps who was let in, and numbers the next arrival on.
pub async fn a_loaded_line_keeps_who_was_let_in_and_the_next_arrival(lines: &dyn Lines) {
    let entry = |user_id, place, admitted: Option<i64>| EntryRecord {
        user_id,
        place,
        joined_at: at(5),
        admitted_at: admitted.map(at),
    };
    lines
        .load(
            key(),
            vec![
                entry(3, (ARRIVALS + 2) as i64, None),
                entry(1, 50, Some(OPEN + 10)),
                entry(2, 70, Some(OPEN + 20)),
                entry(4, 60, None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(lines.counts(key()).await.unwrap(), Counts { joined: 4, admitted: 2 });
    let s = lines.standing(key(), 2, OPEN + 30).await.unwrap().unwrap();
    assert_eq!((s.index, s.admitted_at_ms), (Some(1), Some(OPEN + 20)));
    assert_eq!(lines.standing(key(), 4, OPEN + 30).await.unwrap().unwrap().index, Some(2));
    assert_eq!(lines.join(key(), 9, 1, OPEN + 40).await.unwrap().standing.place, ARRIVALS + 3);
    assert_eq!(lines.admit(key(), 1, OPEN + 50).await.unwrap(), vec![4]);
}
