//! Service limits through a real node: thread limit, memory limit, expiry, init ordering.

mod common;
use common::*;
use iris_client::{Bytes, Connection, ErrorKind, ServiceHandler, ServiceLimits};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Sleepy {
    gauge: Gauge,
    sleep: Duration,
}

impl ServiceHandler for Sleepy {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        let _in = self.gauge.enter();
        std::thread::sleep(self.sleep);
        Ok(request)
    }
}

fn parallel_requests(port: u16, n: usize, timeout: Duration) -> Vec<iris_client::Result<Bytes>> {
    let conn = iris_client::connect(port).unwrap();
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let conn = conn.clone();
            std::thread::spawn(move || conn.request("limited", format!("r{i}"), timeout))
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn one_request_thread_serves_requests_one_after_another() {
    let node = Node::start(&[]);
    let gauge = Gauge::default();
    let handler = Arc::new(Sleepy {
        gauge: gauge.clone(),
        sleep: Duration::from_millis(25),
    });
    let limits = ServiceLimits {
        request_threads: 1,
        ..Default::default()
    };
    let _service = iris_client::register(node.port, "limited", handler, limits).unwrap();
    let started = Instant::now();
    let results = parallel_requests(node.port, 4, 10 * SECOND);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(gauge.total(), 4);
    assert_eq!(gauge.peak(), 1, "more than one request handler ran at once");
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "4 x 25 ms ran in {:?}",
        started.elapsed()
    );
}

#[test]
fn more_threads_allow_parallel_handlers() {
    let node = Node::start(&[]);
    let gauge = Gauge::default();
    let handler = Arc::new(Sleepy {
        gauge: gauge.clone(),
        sleep: Duration::from_millis(300),
    });
    let limits = ServiceLimits {
        request_threads: 4,
        ..Default::default()
    };
    let _service = iris_client::register(node.port, "limited", handler, limits).unwrap();
    let results = parallel_requests(node.port, 4, 10 * SECOND);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert!(gauge.peak() >= 2, "handlers never overlapped (peak {})", gauge.peak());
    assert!(gauge.peak() <= 4);
}

#[test]
fn memory_limit_admits_what_fits_and_drops_the_rest() {
    let node = Node::start(&[]);
    let gauge = Gauge::default();
    let handler = Arc::new(Sleepy {
        gauge: gauge.clone(),
        sleep: Duration::ZERO,
    });
    let limits = ServiceLimits {
        request_memory: 1,
        ..Default::default()
    };
    let _service = iris_client::register(node.port, "limited", handler, limits).unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    assert_eq!(&conn.request("limited", "1", 5 * SECOND).unwrap()[..], b"1");
    let err = conn.request("limited", "22", Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(gauge.total(), 1, "the 2-byte request must never reach the handler");
}

#[test]
fn requests_that_expire_in_the_queue_never_run() {
    let node = Node::start(&[]);
    let gauge = Gauge::default();
    let handler = Arc::new(Sleepy {
        gauge: gauge.clone(),
        sleep: Duration::from_millis(100),
    });
    let limits = ServiceLimits {
        request_threads: 1,
        ..Default::default()
    };
    let _service = iris_client::register(node.port, "limited", handler, limits).unwrap();
    // Warm up so the single handler thread exists and is idle.
    assert!(iris_client::connect(node.port)
        .unwrap()
        .request("limited", "warm", 5 * SECOND)
        .is_ok());
    let results = parallel_requests(node.port, 4, Duration::from_millis(1));
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap_err().kind() == ErrorKind::Timeout),
        "{results:?}"
    );
    // Wait long enough for every queued request to have had its chance.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        gauge.total() - 1,
        1,
        "exactly one of the four expiring requests may run"
    );
}

struct InitFirst {
    init_done: AtomicBool,
    violations: AtomicUsize,
}

impl ServiceHandler for InitFirst {
    fn init(&self, connection: &Connection) -> Result<(), String> {
        assert!(connection.is_open());
        std::thread::sleep(Duration::from_millis(300));
        self.init_done.store(true, Ordering::SeqCst);
        Ok(())
    }
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        if !self.init_done.load(Ordering::SeqCst) {
            self.violations.fetch_add(1, Ordering::SeqCst);
        }
        Ok(request)
    }
}

#[test]
fn init_runs_before_any_handler() {
    let node = Node::start(&[]);
    let handler = Arc::new(InitFirst {
        init_done: AtomicBool::new(false),
        violations: AtomicUsize::new(0),
    });
    let port = node.port;
    let h = handler.clone();
    let registering =
        std::thread::spawn(move || iris_client::register(port, "init", h, ServiceLimits::default()).unwrap());
    // Requests sent while init is still running wait for it.
    std::thread::sleep(Duration::from_millis(100));
    let conn = iris_client::connect(port).unwrap();
    let reply = conn.request("init", "early", 5 * SECOND);
    let _service = registering.join().unwrap();
    assert!(reply.is_ok(), "{reply:?}");
    assert_eq!(handler.violations.load(Ordering::SeqCst), 0);
}

struct FailingInit;

impl ServiceHandler for FailingInit {
    fn init(&self, _: &Connection) -> Result<(), String> {
        Err("no database".into())
    }
}

#[test]
fn a_failing_init_withdraws_the_registration() {
    let node = Node::start(&[]);
    let err = iris_client::register(node.port, "broken", Arc::new(FailingInit), ServiceLimits::default()).unwrap_err();
    assert!(err.message().contains("no database"), "{err}");
    let conn = iris_client::connect(node.port).unwrap();
    assert_eq!(
        conn.request("broken", "x", Duration::from_millis(100))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
}

struct BlockingInit(std::sync::Mutex<Option<iris_client::Result<Bytes>>>);

impl ServiceHandler for BlockingInit {
    fn init(&self, connection: &Connection) -> Result<(), String> {
        // A blocking call from init must work with the async registration too.
        *self.0.lock().unwrap() = Some(connection.request("nobody", "x", Duration::from_millis(20)));
        Ok(())
    }
}

#[test]
fn init_may_make_blocking_calls_under_async_registration() {
    let node = Node::start(&[]);
    let handler = Arc::new(BlockingInit(std::sync::Mutex::new(None)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let service = rt
        .block_on(iris_client::register_async(
            node.port,
            "blocking-init",
            handler.clone(),
            ServiceLimits::default(),
        ))
        .unwrap();
    let outcome = handler.0.lock().unwrap().take().expect("init ran");
    assert_eq!(
        outcome.unwrap_err().kind(),
        ErrorKind::Timeout,
        "the blocking request in init must run, and time out"
    );
    rt.block_on(service.unregister_async()).unwrap();
}
