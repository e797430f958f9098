//! Seat news across the instances of a deployment, through Redis pub/sub.
//!
//! Pub/sub delivers a message at most once, to whoever is subscribed at that moment. That
//! is enough here because a message carries no seat: it only tells pages to read the shared
//! map again, and a page sends a map only when its version is newer than the one it has.
//! So news that comes late, twice or out of order costs at most a read, never an older
//! map; and news that is lost is made good by telling every page to look again:
//!
//! - an instance that could not publish publishes "all" instead, every second until Redis
//!   takes it;
//! - an instance whose subscription dropped subscribes again and tells its own pages to
//!   look again, since news published meanwhile did not reach it.
//!
//! A booking only drops its news into a queue (as for the instance's own pages); one task
//! gathers what comes within [`BATCH_WINDOW`] into one message, so a rush costs Redis a
//! bounded number of messages per instance, whatever the number of bookings.
//!
//! Message (text, one item per line): the sending instance's random id, then `changed
//! <concert> [<version>]`, `rebuilt <concert> <version>` or `all`. An instance drops its own
//! messages by that id; a line it cannot read counts as `all`.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use ::redis::aio::{PubSubSink, PubSubStream};
use anyhow::Context;
use futures_util::StreamExt;
use tokio::sync::mpsc::{UnboundedReceiver, error::TryRecvError};

use super::{SeatMapNews, SeatNews};
use crate::shared_state::SharedState;

/// The pub/sub channel, under the deployment's key prefix.
const CHANNEL: &str = "seatmap:news";
/// How long news waits for more to go in the same message.
const BATCH_WINDOW: Duration = Duration::from_millis(10);
/// How soon a failed publication is tried again.
const PUBLISH_RETRY: Duration = Duration::from_secs(1);
/// How soon a dropped subscription is tried again.
const RESUBSCRIBE: Duration = Duration::from_millis(500);
/// How often an idle subscription is checked, and how long its answer may take.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_millis(1500);

/// Sends the news told here to the other instances on `redis`, and tells this instance's
/// watchers theirs. Returns once subscribed, so that no news published after start-up is
/// missed; fails when Redis cannot be reached.
pub async fn share(news: &Arc<SeatNews>, redis: &SharedState) -> anyhow::Result<()> {
    let channel = redis.key(CHANNEL);
    let subscription = redis.subscribe(&channel).await.context("subscribing to seat news")?;
    let outbox = news.share().context("seat news is already shared")?;
    let origin = uuid::Uuid::new_v4().simple().to_string();
    tokio::spawn(publish(outbox, redis.clone(), channel.clone(), origin.clone()));
    tokio::spawn(listen(subscription, redis.clone(), channel, origin, Arc::downgrade(news)));
    Ok(())
}

/// Publishes the news told here, batched, until the news service is gone.
async fn publish(
    mut outbox: UnboundedReceiver<SeatMapNews>,
    redis: SharedState,
    channel: String,
    origin: String,
) {
    let mut batch = Batch::default();
    loop {
        while batch.is_empty() {
            let Some(news) = outbox.recv().await else { return };
            batch.add(news);
        }
        tokio::time::sleep(BATCH_WINDOW).await;
        loop {
            match outbox.try_recv() {
                Ok(news) => batch.add(news),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        let (channel, message) = (channel.clone(), batch.encode(&origin));
        let published = redis
            .call("publishing seat news", |mut c| async move {
                ::redis::cmd("PUBLISH").arg(channel).arg(message).query_async::<i64>(&mut c).await
            })
            .await;
        match published {
            Ok(_) => batch = Batch::default(),
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "seat news not published; pages on other instances re-check once Redis takes it"
                );
                // Which news was lost no longer matters: every page will look again.
                batch.add(SeatMapNews::All);
                tokio::time::sleep(PUBLISH_RETRY).await;
            }
        }
    }
}

type Subscription = (PubSubSink, PubSubStream);

/// Tells this instance's watchers what the other instances publish, subscribing again
/// whenever the connection drops, until the news service is gone.
async fn listen(
    mut subscription: Subscription,
    redis: SharedState,
    channel: String,
    origin: String,
    news: Weak<SeatNews>,
) {
    loop {
        if !hear(subscription, &origin, &news).await {
            return;
        }
        tracing::warn!("seat news from other instances: connection lost; subscribing again");
        subscription = loop {
            tokio::time::sleep(RESUBSCRIBE).await;
            if news.strong_count() == 0 {
                return;
            }
            match redis.subscribe(&channel).await {
                Ok(subscription) => break subscription,
                Err(e) => tracing::debug!(error = format!("{e:#}"), "seat news: not subscribed yet"),
            }
        };
        tracing::info!("seat news from other instances: subscribed again");
        // What was published meanwhile never came: every page here looks again.
        match news.upgrade() {
            Some(news) => news.tell_here(SeatMapNews::All),
            None => return,
        }
    }
}

/// Relays what comes on `subscription` to this instance's watchers: true when the
/// connection dropped, false when the news service is gone.
async fn hear((mut sink, mut stream): Subscription, origin: &str, news: &Weak<SeatNews>) -> bool {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return true };
                let Some(news) = news.upgrade() else { return false };
                for heard in decode(message.get_payload_bytes(), origin) {
                    news.tell_here(heard);
                }
            }
            _ = ping.tick() => {
                if news.strong_count() == 0 {
                    return false;
                }
                // A peer that vanished without closing the connection is found out here.
                let answer = tokio::time::timeout(PING_TIMEOUT, sink.ping::<::redis::Value>()).await;
                if !matches!(answer, Ok(Ok(_))) {
                    return true;
                }
            }
        }
    }
}

/// News gathered into one message: per concert only the newest version matters.
#[derive(Debug, Default, PartialEq)]
struct Batch {
    all: bool,
    /// `None` once a change of unknown version came: pages must read whatever they have.
    changed: BTreeMap<i64, Option<i64>>,
    rebuilt: BTreeMap<i64, i64>,
}

impl Batch {
    fn add(&mut self, news: SeatMapNews) {
        match news {
            _ if self.all => {}
            SeatMapNews::Changed { concert_id, version } => {
                let newest = self.changed.entry(concert_id).or_insert(version);
                *newest = newest.zip(version).map(|(a, b)| a.max(b));
            }
            SeatMapNews::Rebuilt { concert_id, version } => {
                let newest = self.rebuilt.entry(concert_id).or_insert(version);
                *newest = (*newest).max(version);
            }
            SeatMapNews::All => *self = Batch { all: true, ..Batch::default() },
            // Each instance ends its own streams.
            SeatMapNews::Closing => {}
        }
    }

    fn is_empty(&self) -> bool {
        !self.all && self.changed.is_empty() && self.rebuilt.is_empty()
    }

    fn encode(&self, origin: &str) -> String {
        let mut message = origin.to_owned();
        if self.all {
            message.push_str("\nall");
        }
        for (concert, version) in &self.changed {
            message.push_str(&match version {
                Some(version) => format!("\nchanged {concert} {version}"),
                None => format!("\nchanged {concert}"),
            });
        }
        for (concert, version) in &self.rebuilt {
            message.push_str(&format!("\nrebuilt {concert} {version}"));
        }
        message
    }
}

/// The news in a message, none if it is this instance's own (`origin`).
fn decode(payload: &[u8], origin: &str) -> Vec<SeatMapNews> {
    let text = std::str::from_utf8(payload).unwrap_or_default();
    let mut lines = text.split('\n');
    if lines.next() == Some(origin) {
        return Vec::new();
    }
    match lines.map(decode_line).collect::<Option<Vec<_>>>() {
        Some(news) if !news.is_empty() => news,
        _ => vec![SeatMapNews::All],
    }
}

fn decode_line(line: &str) -> Option<SeatMapNews> {
    let mut words = line.split(' ');
    let (what, concert_id) = (words.next()?, words.next()?.parse().ok()?);
    let version = words.next().map(str::parse).transpose().ok()?;
    if words.next().is_some() {
        return None;
    }
    match (what, version) {
        ("changed", version) => Some(SeatMapNews::Changed { concert_id, version }),
        ("rebuilt", Some(version)) => Some(SeatMapNews::Rebuilt { concert_id, version }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGED_7: SeatMapNews = SeatMapNews::Changed { concert_id: 7, version: Some(12) };

    fn batch(news: &[SeatMapNews]) -> Batch {
        let mut batch = Batch::default();
        news.iter().for_each(|n| batch.add(*n));
        batch
    }

    #[test]
    fn a_batch_keeps_the_newest_version_of_each_concert_and_all_covers_everything() {
        let rebuilt = |concert_id, version| SeatMapNews::Rebuilt { concert_id, version };
        let gathered = batch(&[
            SeatMapNews::Changed { concert_id: 7, version: Some(11) },
            CHANGED_7,
            rebuilt(7, 12),
            rebuilt(7, 11),
            SeatMapNews::Changed { concert_id: 8, version: Some(3) },
            SeatMapNews::Changed { concert_id: 8, version: None },
            SeatMapNews::Changed { concert_id: 8, version: Some(4) },
            SeatMapNews::Closing,
        ]);
        assert_eq!(gathered.encode("me"), "me\nchanged 7 12\nchanged 8\nrebuilt 7 12");
        assert_eq!(batch(&[CHANGED_7, SeatMapNews::All, rebuilt(1, 2)]).encode("me"), "me\nall");
        assert!(batch(&[SeatMapNews::Closing]).is_empty(), "closing is never sent");
    }

    #[test]
    fn messages_round_trip_echoes_are_dropped_and_garbage_means_look_again() {
        let news = [
            CHANGED_7,
            SeatMapNews::Changed { concert_id: 8, version: None },
            SeatMapNews::Rebuilt { concert_id: 7, version: 13 },
        ];
        let message = batch(&news).encode("a");
        assert_eq!(decode(message.as_bytes(), "b"), news);
        assert_eq!(decode(message.as_bytes(), "a"), [], "an instance's own news");
        assert_eq!(decode(b"a\nall", "b"), [SeatMapNews::All]);
        for garbage in
            [&b"a\nchanged 7 x"[..], b"a\nrebuilt 7", b"a\nmoved 7 1", b"a\nchanged 7 1 2", b"a", b"\xff"]
        {
            assert_eq!(decode(garbage, "b"), [SeatMapNews::All], "{:?}", String::from_utf8_lossy(garbage));
        }
    }
}
