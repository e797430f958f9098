//! News of seat-map changes for the pages watching a concert's map live.
//!
//! A booking must never wait on watchers: waking thousands of them takes time in
//! proportion to their number. So news is dropped into an unbounded queue (constant time,
//! never blocks) and one relay task, started with the first watcher, hands it on to the
//! watchers of that concert alone.
//!
//! With several instances (Redis), news told here also goes to the other instances and
//! theirs comes here ([`redis`]): a page hears of a booking whichever instance made it.

mod redis;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{broadcast, mpsc};

pub use self::redis::share;

/// What watchers hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatMapNews {
    /// This concert's map changed: the cached map is stale until rebuilt. `version` is the
    /// map version the change made, when known.
    Changed { concert_id: i64, version: Option<i64> },
    /// A rebuilt map of this concert, of this version, was stored.
    Rebuilt { concert_id: i64, version: i64 },
    /// Every map may have changed (a venue's width, an account deletion, news lost).
    All,
    /// The service is shutting down: live streams end so that shutdown can finish.
    Closing,
}

impl SeatMapNews {
    /// Whether this news may bring a newer map of `concert_id` to a page that has map
    /// version `has`. News of a version the page has (late, or repeated) needs no read.
    pub fn may_change(self, concert_id: i64, has: Option<i64>) -> bool {
        let newer = |version: i64| has.is_none_or(|has| version > has);
        match self {
            SeatMapNews::Changed { concert_id: id, version } => id == concert_id && version.is_none_or(newer),
            SeatMapNews::Rebuilt { concert_id: id, version } => id == concert_id && newer(version),
            SeatMapNews::All => true,
            SeatMapNews::Closing => false,
        }
    }

    fn concert_id(self) -> Option<i64> {
        match self {
            SeatMapNews::Changed { concert_id, .. } | SeatMapNews::Rebuilt { concert_id, .. } => {
                Some(concert_id)
            }
            SeatMapNews::All | SeatMapNews::Closing => None,
        }
    }
}

/// How far a slow watcher may fall behind before it is told it lagged (it then simply
/// reads the current map).
const BACKLOG: usize = 64;

type Channels = Arc<Mutex<HashMap<i64, broadcast::Sender<SeatMapNews>>>>;

/// The news service of one process: a channel per watched concert.
#[derive(Debug, Default)]
pub struct SeatNews {
    relay: OnceLock<mpsc::UnboundedSender<SeatMapNews>>,
    channels: Channels,
    closed: AtomicBool,
    /// News on its way to the other instances, once [`share`] started sending it there.
    outbox: OnceLock<mpsc::UnboundedSender<SeatMapNews>>,
}

impl SeatNews {
    /// Passes news of a change seen here on to the watchers of every instance, without
    /// waiting for them.
    pub fn tell(&self, news: SeatMapNews) {
        self.tell_here(news);
        if let Some(outbox) = self.outbox.get() {
            let _ = outbox.send(news);
        }
    }

    /// Passes news on to this instance's watchers only (news from another instance).
    pub fn tell_here(&self, news: SeatMapNews) {
        // No watcher yet: nobody to tell, and no relay to feed.
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(news);
        }
    }

    /// From now on, every piece of news told here also goes to the queue returned; `None`
    /// when another caller already takes it.
    fn share(&self) -> Option<mpsc::UnboundedReceiver<SeatMapNews>> {
        let (outbox, queue) = mpsc::unbounded_channel();
        self.outbox.set(outbox).ok().map(|()| queue)
    }

    /// Subscribes to the news of one concert (and to news of every concert). Must be
    /// called inside the runtime: the first call starts the relay task.
    pub fn subscribe(&self, concert_id: i64) -> broadcast::Receiver<SeatMapNews> {
        self.relay.get_or_init(|| {
            let (relay, queue) = mpsc::unbounded_channel();
            tokio::spawn(relay_news(queue, self.channels.clone()));
            relay
        });
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(concert_id).or_insert_with(|| broadcast::channel(BACKLOG).0).subscribe()
    }

    /// Whether [`SeatNews::close`] was called.
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Tells every watcher to stop, straight away (the relay may be behind).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(channels) = self.channels.lock() {
            for channel in channels.values() {
                let _ = channel.send(SeatMapNews::Closing);
            }
        }
    }
}

/// Hands each piece of news to the channel of its concert; a channel nobody listens to
/// any more is dropped.
async fn relay_news(mut queue: mpsc::UnboundedReceiver<SeatMapNews>, channels: Channels) {
    while let Some(news) = queue.recv().await {
        let Ok(mut channels) = channels.lock() else { return };
        match news.concert_id() {
            Some(id) => {
                if channels.get(&id).is_some_and(|channel| channel.send(news).is_err()) {
                    channels.remove(&id);
                }
            }
            None => channels.retain(|_, channel| channel.send(news).is_ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(concert_id: i64) -> SeatMapNews {
        SeatMapNews::Changed { concert_id, version: None }
    }

    #[tokio::test]
    async fn watchers_hear_their_own_concert_and_news_of_all_and_empty_channels_go() {
        let news = SeatNews::default();
        news.tell(changed(1));
        let mut one = news.subscribe(1);
        let mut two = news.subscribe(2);
        let rebuilt = SeatMapNews::Rebuilt { concert_id: 1, version: 3 };
        news.tell(changed(2));
        news.tell(rebuilt);
        news.tell(SeatMapNews::All);
        assert_eq!(one.recv().await.unwrap(), rebuilt, "nothing from before, nothing of concert 2");
        assert_eq!(one.recv().await.unwrap(), SeatMapNews::All);
        assert_eq!(two.recv().await.unwrap(), changed(2));
        assert_eq!(two.recv().await.unwrap(), SeatMapNews::All);
        drop(two);
        news.tell_here(changed(2));
        news.tell_here(changed(1));
        assert_eq!(one.recv().await.unwrap(), changed(1));
        assert!(!news.channels.lock().unwrap().contains_key(&2), "a channel without watchers is dropped");
        assert!(!news.closed());
        news.close();
        assert_eq!(one.recv().await.unwrap(), SeatMapNews::Closing);
        assert!(news.closed());
    }

    #[tokio::test]
    async fn only_news_told_here_goes_to_the_other_instances() {
        let news = SeatNews::default();
        news.tell(changed(1));
        let mut outbox = news.share().unwrap();
        assert!(news.share().is_none(), "one sender of news per instance");
        news.tell_here(changed(2));
        news.tell(changed(3));
        assert_eq!(outbox.recv().await, Some(changed(3)), "neither news from before nor from elsewhere");
        assert!(outbox.try_recv().is_err());
    }

    #[test]
    fn a_page_reads_again_only_for_news_that_may_bring_a_newer_map_of_its_concert() {
        let rebuilt = |version| SeatMapNews::Rebuilt { concert_id: 1, version };
        let changed_to = |version| SeatMapNews::Changed { concert_id: 1, version: Some(version) };
        assert!(rebuilt(5).may_change(1, None), "a page without a map reads any");
        assert!(rebuilt(5).may_change(1, Some(4)));
        assert!(!rebuilt(5).may_change(1, Some(5)), "a page that has version 5 needs no read");
        assert!(!changed_to(5).may_change(1, Some(6)), "late news");
        assert!(changed_to(7).may_change(1, Some(6)));
        assert!(changed(1).may_change(1, Some(1_000)), "a change of unknown version");
        assert!(!changed(2).may_change(1, None) && !rebuilt(5).may_change(2, None));
        assert!(SeatMapNews::All.may_change(1, Some(1_000)));
        assert!(!SeatMapNews::Closing.may_change(1, None));
    }
}
