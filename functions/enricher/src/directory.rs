//! The live account directory: the copy in S3 that account-sync writes,
//! refreshed in the background and never waited for past a short timeout.
//!
//! - A container starts with the static copy (file or embedded sample).
//! - Its first invocation starts a fetch and waits for it up to
//!   `first_fetch_timeout`; past that, events go out with what is known and
//!   the fetch goes on.
//! - Every `refresh_every` an invocation starts a conditional GET (ETag) and
//!   does not wait for it.
//! - A failed read keeps the last good copy; once no read has succeeded for
//!   `max_age` (or none ever has), events carry `directory_stale`.

use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::time::Instant;
use trailrelay_shared::directory::Directory;
pub use trailrelay_shared::directory::{DirectorySource, Fetched};
use trailrelay_shared::settings::LiveDirectorySettings;

struct State {
    directory: Arc<Directory>,
    etag: Option<String>,
    last_good: Option<Instant>,
    last_started: Option<Instant>,
    in_flight: bool,
}

pub struct LiveDirectory<S> {
    source: Arc<S>,
    settings: LiveDirectorySettings,
    state: Arc<Mutex<State>>,
    /// Bumped after every finished read, so the first invocation can wait for one.
    reads: watch::Sender<u64>,
}

impl<S: DirectorySource> LiveDirectory<S> {
    pub fn new(source: S, fallback: Arc<Directory>, settings: LiveDirectorySettings) -> Self {
        LiveDirectory {
            source: Arc::new(source),
            settings,
            state: Arc::new(Mutex::new(State {
                directory: fallback,
                etag: None,
                last_good: None,
                last_started: None,
                in_flight: false,
            })),
            reads: watch::Sender::new(0),
        }
    }

    /// The copy to use for this invocation, and whether it is stale.
    pub async fn current(&self) -> (Arc<Directory>, bool) {
        let mut finished = self.reads.subscribe();
        let never_read = {
            let mut state = lock(&self.state);
            let now = Instant::now();
            let due = state
                .last_started
                .is_none_or(|t| now.duration_since(t) >= self.settings.refresh_every);
            if due && !state.in_flight {
                state.in_flight = true;
                state.last_started = Some(now);
                self.start_read(state.etag.clone());
            }
            state.last_good.is_none()
        };
        if never_read {
            // Only the first invocations wait, and briefly.
            let _ =
                tokio::time::timeout(self.settings.first_fetch_timeout, finished.changed()).await;
        }
        let state = lock(&self.state);
        let stale = state
            .last_good
            .is_none_or(|t| Instant::now().duration_since(t) > self.settings.max_age);
        (state.directory.clone(), stale)
    }

    fn start_read(&self, etag: Option<String>) {
        let source = self.source.clone();
        let state = self.state.clone();
        let reads = self.reads.clone();
        let origin = format!("s3://{}/{}", self.settings.bucket, self.settings.key);
        tokio::spawn(async move {
            let result = source.fetch(etag).await;
            {
                let mut state = lock(&state);
                state.in_flight = false;
                match result {
                    Ok(Fetched::NotModified) => state.last_good = Some(Instant::now()),
                    Ok(Fetched::Document { text, etag }) => {
                        match Directory::from_json(&text, &origin) {
                            Ok(directory) => {
                                tracing::info!(
                                    accounts = directory.len(),
                                    generated_at = directory.generated_at(),
                                    "account directory read"
                                );
                                state.directory = Arc::new(directory);
                                state.etag = etag;
                                state.last_good = Some(Instant::now());
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "account directory unreadable; keeping the last good copy")
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %origin, "account directory not read; keeping the last good copy")
                    }
                }
            }
            reads.send_modify(|n| *n += 1);
        });
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind; keep going.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A source answering from a script: each read takes `delay`, then gives
    /// the current document (by ETag) or an error.
    struct FakeS3 {
        document: Mutex<Result<(String, String), String>>,
        delay: Duration,
        reads: AtomicUsize,
        conditional: AtomicUsize,
    }

    fn doc(name: &str) -> String {
        format!(r#"{{"formatVersion":1,"accounts":{{"333333333333":{{"name":"{name}"}}}}}}"#)
    }

    impl FakeS3 {
        fn new(delay: Duration) -> Self {
            FakeS3 {
                document: Mutex::new(Ok((doc("from-s3"), "\"v1\"".into()))),
                delay,
                reads: AtomicUsize::new(0),
                conditional: AtomicUsize::new(0),
            }
        }
    }

    impl DirectorySource for FakeS3 {
        async fn fetch(&self, etag: Option<String>) -> Result<Fetched, String> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let current = self.document.lock().unwrap().clone()?;
            if etag.as_deref() == Some(current.1.as_str()) {
                self.conditional.fetch_add(1, Ordering::SeqCst);
                return Ok(Fetched::NotModified);
            }
            Ok(Fetched::Document {
                text: current.0,
                etag: Some(current.1),
            })
        }
    }

    fn settings() -> LiveDirectorySettings {
        LiveDirectorySettings {
            bucket: "b".into(),
            key: "latest.json".into(),
            refresh_every: Duration::from_secs(300),
            max_age: Duration::from_secs(3600),
            first_fetch_timeout: Duration::from_millis(400),
        }
    }

    fn name(d: &Directory) -> Option<String> {
        d.get("333333333333").and_then(|a| a.name.clone())
    }

    fn fallback() -> Arc<Directory> {
        Arc::new(Directory::from_json(&doc("from-file"), "file").unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_invocation_waits_briefly_for_the_copy() {
        let live = LiveDirectory::new(
            FakeS3::new(Duration::from_millis(50)),
            fallback(),
            settings(),
        );
        let (d, stale) = live.current().await;
        assert_eq!(name(&d).as_deref(), Some("from-s3"));
        assert!(!stale);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_first_read_does_not_hold_events_back() {
        let live = LiveDirectory::new(FakeS3::new(Duration::from_secs(2)), fallback(), settings());
        let started = Instant::now();
        let (d, stale) = live.current().await;
        assert!(Instant::now() - started <= Duration::from_millis(400));
        assert_eq!(name(&d).as_deref(), Some("from-file"));
        assert!(stale, "no good read yet");
        // The read went on; a later invocation sees its result.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (d, stale) = live.current().await;
        assert_eq!(name(&d).as_deref(), Some("from-s3"));
        assert!(!stale);
        assert_eq!(
            live.source.reads.load(Ordering::SeqCst),
            1,
            "not read twice"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_are_conditional_and_at_most_every_interval() {
        let live = LiveDirectory::new(
            FakeS3::new(Duration::from_millis(10)),
            fallback(),
            settings(),
        );
        live.current().await;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(30)).await;
            live.current().await;
        }
        assert_eq!(live.source.reads.load(Ordering::SeqCst), 1, "150 s < 300 s");
        tokio::time::sleep(Duration::from_secs(200)).await;
        live.current().await; // starts a conditional read, does not wait
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(live.source.reads.load(Ordering::SeqCst), 2);
        assert_eq!(live.source.conditional.load(Ordering::SeqCst), 1);

        // The object changes: the next refresh brings it in.
        *live.source.document.lock().unwrap() = Ok((doc("renamed"), "\"v2\"".into()));
        tokio::time::sleep(Duration::from_secs(300)).await;
        live.current().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (d, _) = live.current().await;
        assert_eq!(name(&d).as_deref(), Some("renamed"));
    }

    #[tokio::test(start_paused = true)]
    async fn failed_reads_keep_the_last_copy_until_it_is_stale() {
        let live = LiveDirectory::new(
            FakeS3::new(Duration::from_millis(10)),
            fallback(),
            settings(),
        );
        live.current().await;
        *live.source.document.lock().unwrap() = Err("connection refused".into());
        let mut t = 0;
        while t < 3600 {
            tokio::time::sleep(Duration::from_secs(300)).await;
            t += 300;
            let (d, stale) = live.current().await;
            assert_eq!(name(&d).as_deref(), Some("from-s3"));
            assert!(!stale, "at {t} s");
        }
        tokio::time::sleep(Duration::from_secs(301)).await;
        let (d, stale) = live.current().await;
        assert_eq!(name(&d).as_deref(), Some("from-s3"));
        assert!(stale);
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_copy_at_all_the_static_one_serves_and_is_stale() {
        let s3 = FakeS3::new(Duration::from_millis(10));
        *s3.document.lock().unwrap() = Err("NoSuchBucket".into());
        let live = LiveDirectory::new(s3, fallback(), settings());
        let (d, stale) = live.current().await;
        assert_eq!(name(&d).as_deref(), Some("from-file"));
        assert!(stale);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_document_keeps_the_last_copy() {
        let live = LiveDirectory::new(
            FakeS3::new(Duration::from_millis(10)),
            fallback(),
            settings(),
        );
        live.current().await;
        *live.source.document.lock().unwrap() = Ok(("{not json".into(), "\"v3\"".into()));
        tokio::time::sleep(Duration::from_secs(301)).await;
        live.current().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (d, _) = live.current().await;
        assert_eq!(name(&d).as_deref(), Some("from-s3"));
    }
}
