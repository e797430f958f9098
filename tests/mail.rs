//! E-mail delivery against a real SMTP server on loopback: aiosmtpd, started per test on a
//! free port with the handler in `tests/mail/smtp_sink.py` (stores what it accepts in a
//! Maildir, refuses recipients named `reject…` with 550 and `later…` with 451). What
//! arrived is read back with Python's own e-mail parser (`tests/mail/read_maildir.py`).
//!
//! The outbox here is an in-memory one with the leases a database outbox has.
//!
//! Needs a Python with aiosmtpd: `TICKITECKING_TEST_AIOSMTPD_PYTHON`, else the virtualenv
//! that `scripts/test` makes (scripts/test.d/35-smtp.sh), else `python3`; without it these
//! tests fail and say how to get it.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tickitecking::mail::{Email, MailError, Mailer, Outbox, Queued, SendPolicy, spawn_sender};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

const FROM: &str = "tickitecking <tickets@example.com>";

// ---- the SMTP server ----------------------------------------------------------------------

/// A Python that can run aiosmtpd, found once.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(find_python).clone()
}

fn find_python() -> PathBuf {
    let has_aiosmtpd = |python: &Path| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(chosen) = std::env::var_os("TICKITECKING_TEST_AIOSMTPD_PYTHON").map(PathBuf::from) {
        assert!(
            has_aiosmtpd(&chosen),
            "TICKITECKING_TEST_AIOSMTPD_PYTHON={} cannot import aiosmtpd",
            chosen.display()
        );
        return chosen;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/smtp-venv/bin/python");
    for candidate in [venv, "python3".into()] {
        if has_aiosmtpd(&candidate) {
            return candidate;
        }
    }
    panic!(
        "no Python with aiosmtpd: run `scripts/test` (scripts/test.d/35-smtp.sh installs it into \
         target/smtp-venv), or `pip install aiosmtpd`, or set TICKITECKING_TEST_AIOSMTPD_PYTHON=/path/to/python"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An aiosmtpd process, killed when dropped so a failing test leaves none behind.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    /// Starts the server on `port` and returns once it accepts connections.
    fn start(port: u16, dir: &Path) -> SmtpServer {
        let maildir = dir.join("maildir");
        let log = dir.join(format!("aiosmtpd-{port}.log"));
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "smtp_sink.Sink"])
            .arg(&maildir)
            .env("PYTHONPATH", Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mail"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting aiosmtpd");
        let mut server = SmtpServer { child, port, maildir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("aiosmtpd exited ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// What the server has accepted so far.
    fn received(&self) -> Vec<Received> {
        if !self.maildir.exists() {
            return Vec::new();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mail/read_maildir.py");
        let output = Command::new(python()).arg(script).arg(&self.maildir).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as the server stored it, decoded.
#[derive(Debug, Deserialize)]
struct Received {
    from: Option<String>,
    to: Option<String>,
    subject: Option<String>,
    message_id: Option<String>,
    content_type: String,
    text: Option<String>,
    html: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Option<String>,
}

// ---- an outbox in memory --------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum State {
    Due(DateTime<Utc>),
    Leased(DateTime<Utc>),
    Sent,
    GivenUp,
}

#[derive(Clone, Debug)]
struct Row {
    email: Email,
    queued_at: DateTime<Utc>,
    attempts: u32,
    state: State,
    errors: Vec<String>,
    marked_sent: u32,
}

/// An outbox like the database's: claims lease rows for a minute, sent rows are never
/// claimed again, and every call is recorded.
#[derive(Default)]
struct MemoryOutbox {
    rows: Mutex<Vec<Row>>,
    claims: AtomicUsize,
}

impl MemoryOutbox {
    fn push(&self, email: Email) -> i64 {
        let mut rows = self.rows.lock().unwrap();
        let now = Utc::now();
        rows.push(Row {
            email,
            queued_at: now,
            attempts: 0,
            state: State::Due(now),
            errors: Vec::new(),
            marked_sent: 0,
        });
        rows.len() as i64 - 1
    }

    fn row(&self, id: i64) -> Row {
        self.rows.lock().unwrap()[id as usize].clone()
    }

    fn claims(&self) -> usize {
        self.claims.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn claim_due(&self, now: DateTime<Utc>, limit: u32) -> anyhow::Result<Vec<Queued>> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        let mut rows = self.rows.lock().unwrap();
        let mut claimed = Vec::new();
        for (id, row) in rows.iter_mut().enumerate() {
            let due = matches!(row.state, State::Due(at) | State::Leased(at) if at <= now);
            if due && claimed.len() < limit as usize {
                row.state = State::Leased(now + chrono::Duration::minutes(1));
                claimed.push(Queued {
                    id: id as i64,
                    email: row.email.clone(),
                    attempts: row.attempts,
                    queued_at: row.queued_at,
                });
            }
        }
        Ok(claimed)
    }

    async fn sent(&self, id: i64, _at: DateTime<Utc>) -> anyhow::Result<()> {
        let mut rows = self.rows.lock().unwrap();
        let row = &mut rows[id as usize];
        row.state = State::Sent;
        row.marked_sent += 1;
        Ok(())
    }

    async fn failed(
        &self,
        id: i64,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> anyhow::Result<()> {
        let mut rows = self.rows.lock().unwrap();
        let row = &mut rows[id as usize];
        row.attempts = attempts;
        row.state = retry_at.map_or(State::GivenUp, State::Due);
        row.errors.push(error.to_owned());
        Ok(())
    }
}

// ---- helpers --------------------------------------------------------------------------------

fn email(key: &str, to: &str) -> Email {
    Email {
        key: key.into(),
        to: to.into(),
        to_name: None,
        subject: format!("About {key}"),
        text: format!("This is {key}."),
        html: None,
        images: Vec::new(),
    }
}

/// Retries after 200 ms, doubling up to 400 ms: a test sees several attempts quickly.
fn quick_policy() -> SendPolicy {
    SendPolicy {
        poll_every: Duration::from_millis(100),
        first_retry: Duration::from_millis(200),
        max_retry_delay: Duration::from_millis(400),
        ..SendPolicy::default()
    }
}

/// A running sender and the means to stop it.
struct Running {
    handle: JoinHandle<()>,
    stop: oneshot::Sender<()>,
    wake: Arc<Notify>,
}

impl Running {
    fn start(outbox: &Arc<MemoryOutbox>, mailer: &Mailer, policy: SendPolicy) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let wake = Arc::new(Notify::new());
        let handle = spawn_sender(outbox.clone(), mailer.clone(), policy, wake.clone(), async move {
            let _ = stopped.await;
        });
        Running { handle, stop, wake }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.handle).await.unwrap().unwrap();
    }
}

/// Waits until `condition` holds, for at most 30 s.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lets the sender read the outbox `rounds` more times, so a test can tell that it had
/// every chance to send something again.
async fn more_rounds(outbox: &MemoryOutbox, wake: &Notify, rounds: usize) {
    let target = outbox.claims() + rounds;
    while outbox.claims() < target {
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count_by_message_id(received: &[Received]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in received {
        *counts.entry(message.message_id.clone().unwrap_or_default()).or_default() += 1;
    }
    counts
}

// ---- the tests ------------------------------------------------------------------------------

#[tokio::test]
async fn an_email_arrives_with_its_headers_body_and_a_message_id_fixed_by_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(free_port(), dir.path());
    let mailer = Mailer::new(Some(&server.url()), FROM, dir.path()).unwrap();
    let confirmation = Email {
        key: "order-12-paid/fan@example.com".into(),
        to: "fan@example.com".into(),
        to_name: Some("김민지".into()),
        subject: "예매 확인: Order 12".into(),
        text: "Seat A-1, ₩55,000.\nSee you there!".into(),
        html: Some("<p>Seat <b>A-1</b>, ₩55,000.</p>".into()),
        images: Vec::new(),
    };
    mailer.send(&confirmation).await.unwrap();
    mailer.send(&confirmation).await.unwrap();
    mailer
        .send(&Email {
            subject: "Refund".into(),
            html: None,
            ..email("order-12-refunded/fan@example.com", "fan@example.com")
        })
        .await
        .unwrap();

    let received = server.received();
    assert_eq!(received.len(), 3, "{received:#?}");
    let (sent_twice, other): (Vec<_>, Vec<_>) =
        received.iter().partition(|m| m.subject.as_deref() == Some("예매 확인: Order 12"));
    assert_eq!(sent_twice.len(), 2, "{received:#?}");
    let message = sent_twice[0];
    assert_eq!(message.from.as_deref(), Some("tickitecking <tickets@example.com>"));
    assert_eq!(message.to.as_deref(), Some("김민지 <fan@example.com>"));
    assert_eq!(message.mail_from.as_deref(), Some("tickets@example.com"));
    assert_eq!(message.rcpt_to.as_deref(), Some("fan@example.com"));
    assert_eq!(message.content_type, "multipart/alternative");
    assert_eq!(message.text.as_deref().map(str::trim_end), Some("Seat A-1, ₩55,000.\nSee you there!"));
    assert_eq!(message.html.as_deref().map(str::trim_end), Some("<p>Seat <b>A-1</b>, ₩55,000.</p>"));

    let id = message.message_id.clone().unwrap();
    assert!(id.starts_with('<') && id.ends_with("@example.com>"), "{id}");
    assert_eq!(sent_twice[1].message_id.as_ref(), Some(&id), "a resend carries the same Message-ID");
    assert_eq!(other[0].content_type, "text/plain");
    assert_ne!(other[0].message_id.as_ref(), Some(&id), "another key, another Message-ID");
}

#[tokio::test]
async fn while_the_server_is_down_emails_wait_and_then_arrive_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mailer = Mailer::new(Some(&format!("smtp://127.0.0.1:{port}")), FROM, dir.path()).unwrap();

    let error = mailer.send(&email("hold-1-expired/a@example.com", "a@example.com")).await.unwrap_err();
    assert!(matches!(error, MailError::Unavailable(_)) && !error.is_permanent(), "{error}");

    let outbox = Arc::new(MemoryOutbox::default());
    let ids: Vec<i64> = ["a", "b", "c"]
        .iter()
        .map(|who| {
            outbox.push(email(&format!("hold-1-expired/{who}@example.com"), &format!("{who}@example.com")))
        })
        .collect();
    let sender = Running::start(&outbox, &mailer, quick_policy());
    until("every e-mail to have failed twice", || ids.iter().all(|&id| outbox.row(id).attempts >= 2)).await;
    for &id in &ids {
        let row = outbox.row(id);
        assert!(matches!(row.state, State::Due(_) | State::Leased(_)), "still to be retried: {row:?}");
        assert!(row.errors.iter().all(|e| e.contains("unavailable")), "{:?}", row.errors);
    }

    let server = SmtpServer::start(port, dir.path());
    until("the e-mails to be sent", || ids.iter().all(|&id| outbox.row(id).state == State::Sent)).await;
    more_rounds(&outbox, &sender.wake, 5).await;
    sender.stop().await;

    let received = server.received();
    assert_eq!(received.len(), 3, "{received:#?}");
    assert!(count_by_message_id(&received).values().all(|&n| n == 1), "{received:#?}");
    assert!(ids.iter().all(|&id| outbox.row(id).marked_sent == 1));
}

#[tokio::test]
async fn a_restarted_sender_never_sends_an_email_marked_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(free_port(), dir.path());
    let mailer = Mailer::new(Some(&server.url()), FROM, dir.path()).unwrap();
    let outbox = Arc::new(MemoryOutbox::default());

    let first = outbox.push(email("order-1-paid/fan@example.com", "fan@example.com"));
    let sender = Running::start(&outbox, &mailer, quick_policy());
    until("the first e-mail to be sent", || outbox.row(first).state == State::Sent).await;
    more_rounds(&outbox, &sender.wake, 3).await;
    sender.stop().await;

    let sender = Running::start(&outbox, &mailer, quick_policy());
    let second = outbox.push(email("order-2-paid/fan@example.com", "fan@example.com"));
    sender.wake.notify_one();
    until("the second e-mail to be sent", || outbox.row(second).state == State::Sent).await;
    more_rounds(&outbox, &sender.wake, 3).await;
    sender.stop().await;

    let subjects: Vec<_> = server.received().into_iter().filter_map(|m| m.subject).collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects.contains(&"About order-1-paid/fan@example.com".to_owned()), "{subjects:?}");
    assert!(subjects.contains(&"About order-2-paid/fan@example.com".to_owned()), "{subjects:?}");
}

#[tokio::test]
async fn two_senders_on_one_outbox_send_each_email_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(free_port(), dir.path());
    let mailer = Mailer::new(Some(&server.url()), FROM, dir.path()).unwrap();
    let outbox = Arc::new(MemoryOutbox::default());
    let policy = SendPolicy { batch: 3, ..quick_policy() };
    let senders =
        [Running::start(&outbox, &mailer, policy.clone()), Running::start(&outbox, &mailer, policy)];

    let ids: Vec<i64> = (0..20)
        .map(|n| outbox.push(email(&format!("order-{n}-paid/fan@example.com"), "fan@example.com")))
        .collect();
    for sender in &senders {
        sender.wake.notify_one();
    }
    until("all e-mails to be sent", || ids.iter().all(|&id| outbox.row(id).state == State::Sent)).await;
    for sender in senders {
        more_rounds(&outbox, &sender.wake, 2).await;
        sender.stop().await;
    }

    let received = server.received();
    assert_eq!(received.len(), 20);
    assert_eq!(count_by_message_id(&received).len(), 20, "each key once");
}

#[tokio::test]
async fn a_refused_or_unaddressable_email_is_given_up_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(free_port(), dir.path());
    let mailer = Mailer::new(Some(&server.url()), FROM, dir.path()).unwrap();

    let error = mailer.send(&email("k", "reject@example.com")).await.unwrap_err();
    assert!(error.is_permanent() && error.to_string().contains("550"), "{error}");
    let error = mailer.send(&email("k", "not an address")).await.unwrap_err();
    assert!(error.is_permanent(), "{error}");

    let outbox = Arc::new(MemoryOutbox::default());
    let refused = outbox.push(email("order-1-paid/reject@example.com", "reject@example.com"));
    let unaddressable = outbox.push(email("order-2-paid/nobody", "nobody"));
    let fine = outbox.push(email("order-3-paid/fan@example.com", "fan@example.com"));
    let sender = Running::start(&outbox, &mailer, quick_policy());
    until("the good e-mail to be sent", || outbox.row(fine).state == State::Sent).await;
    more_rounds(&outbox, &sender.wake, 5).await;
    sender.stop().await;

    for id in [refused, unaddressable] {
        let row = outbox.row(id);
        assert_eq!((row.state.clone(), row.attempts), (State::GivenUp, 1), "{row:?}");
        assert!(row.errors[0].starts_with("rejected"), "{row:?}");
    }
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_deferred_email_is_retried_until_the_policy_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(free_port(), dir.path());
    let mailer = Mailer::new(Some(&server.url()), FROM, dir.path()).unwrap();

    let error = mailer.send(&email("k", "later@example.com")).await.unwrap_err();
    assert!(matches!(error, MailError::Deferred(_)) && error.to_string().contains("451"), "{error}");

    let outbox = Arc::new(MemoryOutbox::default());
    let deferred = outbox.push(email("hold-7-expired/later@example.com", "later@example.com"));
    let sender = Running::start(&outbox, &mailer, SendPolicy { max_attempts: 3, ..quick_policy() });
    until("the deferred e-mail to be given up", || outbox.row(deferred).state == State::GivenUp).await;
    more_rounds(&outbox, &sender.wake, 5).await;
    sender.stop().await;

    let row = outbox.row(deferred);
    assert_eq!((row.state, row.attempts, row.errors.len()), (State::GivenUp, 3, 3));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn without_smtp_each_key_is_one_eml_file_in_the_outbox_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::new(None, FROM, dir.path()).unwrap();
    let paid = Email {
        html: Some("<p>Seat A-1</p>".into()),
        ..email("order-12-paid/fan@example.com", "fan@example.com")
    };
    mailer.send(&paid).await.unwrap();
    let outbox = dir.path().join("outbox");
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let [name] = files().try_into().unwrap();
    assert!(name.starts_with("order-12-paid_fan@example.com-") && name.ends_with(".eml"), "{name}");
    let written = std::fs::read_to_string(outbox.join(&name)).unwrap();
    for expected in [
        "From: tickitecking <tickets@example.com>\r\n",
        "To: fan@example.com\r\n",
        "Subject: About order-12-paid/fan@example.com\r\n",
        "Message-ID: <",
        "Content-Type: multipart/alternative",
    ] {
        assert!(written.contains(expected), "{expected:?} in\n{written}");
    }

    tokio::time::sleep(Duration::from_millis(1100)).await; // a rewrite would carry another Date
    mailer.send(&paid).await.unwrap();
    assert_eq!(files(), std::slice::from_ref(&name), "the same key, the same file");
    assert_eq!(std::fs::read_to_string(outbox.join(&name)).unwrap(), written, "the first file stands");

    mailer.send(&email("order-12-refunded/fan@example.com", "fan@example.com")).await.unwrap();
    let names = files();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().all(|n| n.ends_with(".eml") && !n.starts_with('.')),
        "no temporary files left: {names:?}"
    );
}
