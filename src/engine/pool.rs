//! A persistent, low-latency thread pool for the token loop.
//!
//! [`Pool::run`] runs one borrowed closure on every worker (the calling thread
//! is worker 0) and returns when all of them are done. The hand-off is
//! spin-then-park: idle workers spin on an atomic generation counter for a
//! short while ([`SPIN`]) and then park, so back-to-back calls cost a few
//! microseconds while an idle pool costs no CPU.
//!
//! The closure borrows from the caller's stack although the threads are
//! long-lived. This crate contains no `unsafe`: the lifetime extension is done
//! by the `scope-lock` crate, whose scope guard blocks (rather than allowing a
//! dangling reference) until every extended reference has been dropped. Our
//! protocol drops every worker's reference before it reports completion, so the
//! guard never actually has to wait.
//!
//! Panics in the closure on any worker are caught, every worker is still
//! waited for, and the first panic payload is re-raised on the caller with
//! [`std::panic::resume_unwind`]. Calling [`Pool::run`] from inside a running
//! job (nested use) runs the inner closure inline as a single worker
//! (`f(0, 1)`), instead of deadlocking.

use std::any::Any;
use std::cell::Cell;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker (and a waiting caller) spins before parking.
pub const SPIN: Duration = Duration::from_micros(50);

/// A type-erased job, as seen by the workers: `f((worker, n_workers))`.
type Job = Arc<dyn Fn((usize, usize)) + Send + Sync + 'static>;
type Panic = Box<dyn Any + Send + 'static>;

thread_local! {
    /// True while this thread executes a pool job (used to detect nesting).
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
}

/// Per spawned worker: its job slot and whether it is parked.
struct Slot {
    job: Mutex<Option<Job>>,
    parked: AtomicBool,
}

struct Shared {
    /// Bumped once per `run` (after the slots are filled) and on shutdown.
    generation: AtomicU64,
    stop: AtomicBool,
    /// Spawned workers that have not yet finished the current job.
    pending: AtomicUsize,
    /// Whether the caller is (about to be) parked waiting for `pending == 0`.
    caller_parked: AtomicBool,
    caller: Mutex<Option<Thread>>,
    /// First panic payload of the current job.
    panic: Mutex<Option<Panic>>,
    slots: Vec<Slot>,
    spin: Duration,
    /// More workers than available cores: yield instead of busy-spinning.
    oversubscribed: bool,
}

/// A persistent thread pool; see the module docs.
pub struct Pool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    /// Serialises `run` calls made from different threads.
    run_lock: Mutex<()>,
    threads: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means some thread panicked while holding it; the
    // data (an Option) is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Spins until `done()` is true for up to `spin`, checking the clock only
/// every 64 iterations. Returns whether it became true. With `yield_` (more
/// workers than cores) each iteration yields the core instead of busy-spinning,
/// so that the thread we wait for can run.
fn spin_until(spin: Duration, yield_: bool, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if done() {
                return true;
            }
            if yield_ {
                thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        if start.elapsed() >= spin {
            return done();
        }
    }
}

fn worker_loop(shared: Arc<Shared>, index: usize, n_workers: usize) {
    IN_JOB.with(|c| c.set(true));
    let slot = &shared.slots[index - 1];
    let mut seen = 0u64;
    loop {
        // Wait for a new generation: spin, then park.
        if !spin_until(shared.spin, shared.oversubscribed, || {
            shared.generation.load(Ordering::Acquire) != seen
        }) {
            loop {
                slot.parked.store(true, Ordering::SeqCst);
                if shared.generation.load(Ordering::SeqCst) != seen {
                    slot.parked.store(false, Ordering::SeqCst);
                    break;
                }
                thread::park();
                slot.parked.store(false, Ordering::SeqCst);
                if shared.generation.load(Ordering::SeqCst) != seen {
                    break;
                }
            }
        }
        seen = shared.generation.load(Ordering::Acquire);
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let job = lock(&slot.job).take();
        if let Some(job) = job {
            let result = catch_unwind(AssertUnwindSafe(|| job((index, n_workers))));
            // Drop our reference to the borrowed closure before reporting.
            drop(job);
            if let Err(payload) = result {
                let mut p = lock(&shared.panic);
                if p.is_none() {
                    *p = Some(payload);
                }
            }
            let last = shared.pending.fetch_sub(1, Ordering::SeqCst) == 1;
            if last && shared.caller_parked.load(Ordering::SeqCst) {
                let caller = lock(&shared.caller).clone();
                if let Some(t) = caller {
                    t.unpark();
                }
            }
        }
    }
}

impl Pool {
    /// `threads` workers in total (the caller's thread is worker 0; `threads - 1`
    /// threads are spawned), each spawned worker pinned to a core when `pin`
    /// (worker `i` to core `i % cores`; pinning failure is ignored). The
    /// calling thread is never pinned. `threads == 0` is treated as 1.
    pub fn new(threads: usize, pin: bool) -> Pool {
        Pool::with_spin(threads, pin, SPIN)
    }

    /// Like [`Pool::new`] with an explicit spin time before parking.
    pub fn with_spin(threads: usize, pin: bool, spin: Duration) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            caller_parked: AtomicBool::new(false),
            caller: Mutex::new(None),
            panic: Mutex::new(None),
            slots: (1..threads)
                .map(|_| Slot {
                    job: Mutex::new(None),
                    parked: AtomicBool::new(false),
                })
                .collect(),
            spin,
            oversubscribed: threads
                > thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
        });
        let cores = if pin {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let handles = (1..threads)
            .map(|i| {
                let shared = Arc::clone(&shared);
                let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
                thread::Builder::new()
                    .name(format!("strata-pool-{i}"))
                    .spawn(move || {
                        if let Some(core) = core {
                            let _ = core_affinity::set_for_current(core);
                        }
                        worker_loop(shared, i, threads);
                    })
                    .expect("failed to spawn pool worker")
            })
            .collect();
        Pool {
            shared,
            handles,
            run_lock: Mutex::new(()),
            threads,
        }
    }

    /// The default thread count: `STRATA_THREADS` if set to a positive
    /// integer, else the number of physical cores (Linux sysfs topology),
    /// bounded by [`std::thread::available_parallelism`], which is also the
    /// fallback.
    pub fn default_threads() -> usize {
        if let Some(n) = std::env::var("STRATA_THREADS")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
        {
            return n;
        }
        let avail = thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        match physical_cores() {
            Some(p) if p > 0 => p.min(avail),
            _ => avail,
        }
    }

    /// Total number of workers, the caller included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(worker_index, n_workers)` on every worker (the caller is worker
    /// 0) and returns when all are done. A panic in `f` on any worker is
    /// re-raised here after all workers finished. Called from inside a job,
    /// runs `f(0, 1)` inline.
    pub fn run(&self, f: &(dyn Fn(usize, usize) + Sync)) {
        if self.threads == 1 || IN_JOB.with(|c| c.get()) {
            f(0, 1);
            return;
        }
        let _serial = lock(&self.run_lock);
        let shared = &*self.shared;
        let n = self.threads;
        // Lives outside the lock scope, so it outlives every extended reference.
        let call = move |(i, n): (usize, usize)| f(i, n);
        let caller_result = scope_lock::lock_scope(|scope| {
            let job: Job = Arc::new(scope.fn_(&call));
            *lock(&shared.caller) = Some(thread::current());
            shared.pending.store(n - 1, Ordering::SeqCst);
            for slot in &shared.slots {
                *lock(&slot.job) = Some(Arc::clone(&job));
            }
            drop(job);
            shared.generation.fetch_add(1, Ordering::SeqCst);
            for (slot, handle) in shared.slots.iter().zip(&self.handles) {
                if slot.parked.load(Ordering::SeqCst) {
                    handle.thread().unpark();
                }
            }
            IN_JOB.with(|c| c.set(true));
            let result = catch_unwind(AssertUnwindSafe(|| f(0, n)));
            IN_JOB.with(|c| c.set(false));
            // Wait for the others: spin, then park.
            if !spin_until(shared.spin, shared.oversubscribed, || {
                shared.pending.load(Ordering::Acquire) == 0
            }) {
                loop {
                    shared.caller_parked.store(true, Ordering::SeqCst);
                    if shared.pending.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    thread::park();
                    if shared.pending.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                }
                shared.caller_parked.store(false, Ordering::SeqCst);
            }
            result
            // Leaving lock_scope: every worker dropped its job reference
            // before decrementing `pending`, so the guard returns at once.
        });
        let worker_panic = lock(&shared.panic).take();
        if let Err(payload) = caller_result {
            resume_unwind(payload);
        }
        if let Some(payload) = worker_panic {
            resume_unwind(payload);
        }
    }

    /// Splits `0..n` into one contiguous chunk per worker, chunk boundaries
    /// multiples of `align` (0 is treated as 1), and runs `f(range)` on each
    /// non-empty chunk. Runs inline when there is a single chunk.
    pub fn for_chunks(&self, n: usize, align: usize, f: &(dyn Fn(Range<usize>) + Sync)) {
        if n == 0 {
            return;
        }
        let align = align.max(1);
        let per = n.div_ceil(self.threads).div_ceil(align) * align;
        if per >= n {
            f(0..n);
            return;
        }
        self.run(&|i, w| {
            // When nested (w == 1) one worker covers everything.
            let (start, end) = if w == 1 {
                (0, n)
            } else {
                ((i * per).min(n), ((i + 1) * per).min(n))
            };
            if start < end {
                f(start..end);
            }
        });
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// Counts distinct (package, core) pairs in sysfs; `None` off Linux or on error.
fn physical_cores() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu").ok()?;
    let mut set = std::collections::HashSet::new();
    for e in dir.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Some(rest) = name.strip_prefix("cpu") else {
            continue;
        };
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let topo = e.path().join("topology");
        let core = std::fs::read_to_string(topo.join("core_id")).ok()?;
        let pkg = std::fs::read_to_string(topo.join("physical_package_id")).unwrap_or_default();
        set.insert((pkg.trim().to_string(), core.trim().to_string()));
    }
    (!set.is_empty()).then_some(set.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_worker_runs_once_per_call() {
        for threads in [1, 2, 3, 4, 7] {
            let pool = Pool::new(threads, false);
            assert_eq!(pool.threads(), threads);
            let counts: Vec<AtomicU32> = (0..threads).map(|_| AtomicU32::new(0)).collect();
            for _ in 0..1000 {
                pool.run(&|i, n| {
                    assert_eq!(n, threads);
                    counts[i].fetch_add(1, Ordering::Relaxed);
                });
            }
            for c in &counts {
                assert_eq!(c.load(Ordering::Relaxed), 1000);
            }
        }
    }

    #[test]
    fn borrowed_slices_are_visible_after_run() {
        let pool = Pool::new(4, false);
        for round in 0..200u64 {
            let mut out = vec![0u64; 4 * 1000 + 3];
            let chunks: Vec<Mutex<&mut [u64]>> = out.chunks_mut(1001).map(Mutex::new).collect();
            pool.run(&|i, _| {
                let mut c = chunks[i].lock().unwrap();
                for (j, x) in c.iter_mut().enumerate() {
                    *x = round + (i * 1001 + j) as u64;
                }
            });
            drop(chunks);
            for (k, x) in out.iter().enumerate() {
                assert_eq!(*x, round + k as u64);
            }
        }
    }

    #[test]
    fn for_chunks_covers_range_aligned() {
        let pool = Pool::new(3, false);
        for n in [0usize, 1, 5, 31, 32, 33, 100, 1000, 4097] {
            for align in [0usize, 1, 4, 32] {
                let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                pool.for_chunks(n, align, &|r| {
                    assert!(r.start < r.end);
                    assert_eq!(r.start % align.max(1), 0);
                    for k in r {
                        hits[k].fetch_add(1, Ordering::Relaxed);
                    }
                });
                assert!(
                    hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                    "n={n} align={align}"
                );
            }
        }
    }

    #[test]
    fn panics_propagate_from_any_worker() {
        let pool = Pool::new(4, false);
        for bad in 0..4 {
            let done = AtomicU32::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| {
                pool.run(&|i, _| {
                    if i == bad {
                        panic!("boom {i}");
                    }
                    thread::sleep(Duration::from_millis(2));
                    done.fetch_add(1, Ordering::SeqCst);
                })
            }));
            let payload = r.expect_err("panic must propagate");
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            assert_eq!(msg, format!("boom {bad}"));
            // All the other workers had finished before run returned.
            assert_eq!(done.load(Ordering::SeqCst), 3);
            // The pool still works afterwards.
            let c = AtomicU32::new(0);
            pool.run(&|_, _| {
                c.fetch_add(1, Ordering::SeqCst);
            });
            assert_eq!(c.load(Ordering::SeqCst), 4);
        }
    }

    #[test]
    fn many_back_to_back_calls() {
        let pool = Pool::new(4, false);
        let total = AtomicU64::new(0);
        for _ in 0..100_000 {
            pool.run(&|i, _| {
                total.fetch_add(i as u64 + 1, Ordering::Relaxed);
            });
        }
        assert_eq!(total.load(Ordering::Relaxed), 100_000 * 10);
    }

    #[test]
    fn calls_after_idle_park_and_pinning() {
        let pool = Pool::new(3, true);
        let c = AtomicU32::new(0);
        for _ in 0..5 {
            thread::sleep(Duration::from_millis(5)); // workers are parked now
            pool.run(&|_, _| {
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(c.load(Ordering::SeqCst), 15);
    }

    #[test]
    fn nested_run_executes_inline() {
        let pool = Pool::new(3, false);
        let c = AtomicU32::new(0);
        pool.run(&|_, _| {
            pool.run(&|i, n| {
                assert_eq!((i, n), (0, 1));
                c.fetch_add(1, Ordering::SeqCst);
            });
        });
        assert_eq!(c.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn shared_between_threads() {
        let pool = Pool::new(3, false);
        let c = AtomicU64::new(0);
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        pool.run(&|_, _| {
                            c.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(c.load(Ordering::Relaxed), 3 * 2000 * 3);
    }

    #[test]
    fn drop_joins_workers() {
        let marker = Arc::new(());
        let pool = Pool::new(4, false);
        let m = Arc::clone(&marker);
        pool.run(&move |_, _| {
            let _ = &m;
        });
        drop(pool);
        // The job (holding a clone of `marker`) and all workers are gone.
        assert_eq!(Arc::strong_count(&marker), 1);
        // Dropping a pool whose workers are parked also returns.
        let pool = Pool::new(4, false);
        thread::sleep(Duration::from_millis(5));
        drop(pool);
    }

    #[test]
    fn default_threads_is_positive() {
        assert!(Pool::default_threads() >= 1);
    }
}
