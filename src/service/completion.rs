//! Work that runs to its end even when the request that started it is dropped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Runs `work` to completion even if the caller stops waiting for it (the client hung up,
/// the request timed out). For a use case that commits and then brings the views (seat
/// gate, seat maps, caches), the audit log and the metrics up to date: stopping between the
/// two would leave a view that disagrees with the database, e.g. a gate refusing a seat
/// that was freed, or a committed action missing from the audit log.
///
/// The caller's own task runs `work`; only if the caller drops it first does what is left
/// of it move to a task of its own. (A task per request cost a spawn, a second wake-up
/// and a join on every booking.)
pub fn to_completion<F>(work: F) -> ToCompletion<F>
where
    F: Future<Output: Send + 'static> + Send + 'static,
{
    ToCompletion { work: Some(Box::pin(work)) }
}

/// The future of [`to_completion`].
pub struct ToCompletion<F: Future<Output: Send + 'static> + Send + 'static> {
    /// `None` once finished.
    work: Option<Pin<Box<F>>>,
}

impl<F: Future<Output: Send + 'static> + Send + 'static> Future for ToCompletion<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(work) = self.work.as_mut() else {
            panic!("ToCompletion polled after it finished");
        };
        let output = ready!(work.as_mut().poll(cx));
        self.work = None;
        Poll::Ready(output)
    }
}

impl<F: Future<Output: Send + 'static> + Send + 'static> Drop for ToCompletion<F> {
    fn drop(&mut self) {
        // Abandoned midway: the rest runs on. (Not while unwinding from a panic inside the
        // work itself: that work cannot be resumed.)
        if let Some(work) = self.work.take()
            && !std::thread::panicking()
        {
            tokio::spawn(work);
        }
    }
}

#[cfg(test)]
tokio::task_local! {
    /// Set by a test that wants to drop a use case right after its commit.
    pub(super) static AFTER_COMMIT: std::sync::Arc<std::sync::atomic::AtomicBool>;
}

/// Marks the point where a use case has committed and its after-commit work begins. In
/// tests, a caller can drop the use case exactly here (see the service tests); otherwise
/// it costs nothing.
pub(super) async fn committed() {
    #[cfg(test)]
    if AFTER_COMMIT.try_with(|reached| reached.store(true, std::sync::atomic::Ordering::SeqCst)).is_ok() {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::to_completion;

    #[tokio::test]
    async fn work_runs_in_the_request_and_answers_it() {
        let answer = to_completion(async { 7 }).await;
        assert_eq!(answer, 7);
    }

    #[tokio::test]
    async fn work_abandoned_midway_still_runs_to_its_end() {
        let (resume, resumed) = tokio::sync::oneshot::channel::<()>();
        let (finished, finish) = tokio::sync::oneshot::channel::<&str>();
        let work = to_completion(async move {
            let _ = resumed.await;
            let _ = finished.send("the rest ran");
        });
        // The request gives up while the work waits (the timeout drops it)...
        assert!(tokio::time::timeout(Duration::from_millis(20), work).await.is_err());
        // ...and the work goes on from where it was.
        resume.send(()).expect("the abandoned work is still waiting");
        let ended = tokio::time::timeout(Duration::from_secs(5), finish).await;
        assert_eq!(ended.ok().and_then(Result::ok), Some("the rest ran"));
    }
}
