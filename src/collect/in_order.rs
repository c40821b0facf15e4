//! The one ordered multiplexer: jobs run at once, what each gives is handed over job after job in order.
//! It serves the tables of a collection (ss's order), the namespaces of `-N`/`--all-netns` (discovery
//! order) and the shared TCP walk (IPv4, then the IPv6 rows it held, at the IPv6 table's turn).
//!
//! The first job, and every job no thread has started when its turn comes, runs on the delivering thread,
//! its items handed over as it makes them. The others run on a few threads, each into a small bounded
//! queue read at its turn: a job far ahead waits (a kernel dump is held) with a few items in memory.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Condvar, Mutex, PoisonError};

/// How far jobs run ahead of the one being handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ahead {
    /// Threads running later jobs (the delivering thread runs the first job itself).
    pub threads: usize,
    /// Jobs started, at most, counting the one being handed over.
    pub jobs: usize,
    /// Items a job started ahead holds, at most, before it waits for its turn.
    pub items: usize,
}

/// What [`run`] hands over for a job: its items as it makes them, then how it ended.
#[derive(Debug)]
pub(crate) enum Part<T, R> {
    Item(T),
    Done(R),
    /// The job panicked (the items handed over before stand).
    Lost,
}

/// What a job hands its items to; false once nothing more is wanted.
pub(crate) type Emit<'a, T> = dyn FnMut(T) -> bool + Send + 'a;

/// A job's queue, taken by whoever runs the job.
type Queue<T, R> = Mutex<Option<SyncSender<Part<T, R>>>>;

/// Progress shared by the threads.
struct Progress {
    /// The next job a thread looks at (job 0 is the delivering thread's).
    next: usize,
    /// Jobs handed over completely.
    delivered: usize,
    stop: bool,
}

/// What the threads share: each job's queue, and how far the jobs have gone.
struct Board<T, R> {
    n: usize,
    ahead: Ahead,
    queues: Vec<Queue<T, R>>,
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl<T, R> Board<T, R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take job `i`'s queue: whoever gets it runs the job.
    fn take(&self, i: usize) -> Option<SyncSender<Part<T, R>>> {
        self.queues[i].lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// The next job a thread may start, once it is few enough jobs ahead; `None`: no more.
    fn next_job(&self) -> Option<usize> {
        let mut p = self.lock();
        while !p.stop && p.next < self.n && p.next >= p.delivered + self.ahead.jobs.max(1) {
            p = self.changed.wait(p).unwrap_or_else(PoisonError::into_inner);
        }
        if p.stop || p.next >= self.n {
            return None;
        }
        p.next += 1;
        Some(p.next - 1)
    }

    /// Job `i` is handed over (`go`: and more is wanted).
    fn delivered(&self, i: usize, go: bool) {
        let mut p = self.lock();
        p.delivered = i + 1;
        p.stop |= !go;
        self.changed.notify_all();
    }
}

/// Run jobs `0..n` (`job(i, emit)`: `emit` returns false once nothing more is wanted) and hand each one's
/// [`Part`]s to `deliver` in job order. `at_turn(i)`: job `i` starts only at its turn (it reads what the
/// jobs before it left). `deliver` returning false stops everything: no job starts after, the running ones
/// see `emit` return false, and nothing more is handed over.
pub(crate) fn run<T, R>(
    n: usize,
    ahead: Ahead,
    at_turn: &(dyn Fn(usize) -> bool + Sync),
    job: &(dyn Fn(usize, &mut Emit<'_, T>) -> R + Sync),
    deliver: &mut (dyn FnMut(usize, Part<T, R>) -> bool + Send),
) where
    T: Send,
    R: Send,
{
    if n == 0 {
        return;
    }
    let run_job = |i: usize, emit: &mut Emit<'_, T>| {
        catch_unwind(AssertUnwindSafe(|| job(i, emit))).map_or(Part::Lost, Part::Done)
    };
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| sync_channel::<Part<T, R>>(ahead.items)).unzip();
    let board = Board {
        n,
        ahead,
        queues: senders.into_iter().map(|s| Mutex::new(Some(s))).collect(),
        progress: Mutex::new(Progress { next: 1, delivered: 0, stop: false }),
        changed: Condvar::new(),
    };
    std::thread::scope(|s| {
        for _ in 0..ahead.threads.min(n - 1) {
            s.spawn(|| {
                while let Some(i) = board.next_job() {
                    // A job left for its turn keeps its queue: the delivering thread takes it then.
                    let Some(tx) = (!at_turn(i)).then(|| board.take(i)).flatten() else { continue };
                    let done = run_job(i, &mut |item| tx.send(Part::Item(item)).is_ok());
                    // A consumer that stopped has dropped the receiver: nothing more to do.
                    let _ = tx.send(done);
                }
            });
        }
        for (i, rx) in receivers.into_iter().enumerate() {
            let go = match board.take(i) {
                // Not started ahead: run it here, straight into `deliver`.
                Some(_) => {
                    let mut go = true;
                    let done = run_job(i, &mut |item| {
                        go = go && deliver(i, Part::Item(item));
                        go
                    });
                    go && deliver(i, done)
                }
                None => {
                    let mut go = true;
                    for part in rx.iter() {
                        let last = !matches!(part, Part::Item(_));
                        go = deliver(i, part);
                        if !go || last {
                            break;
                        }
                    }
                    go
                }
            };
            board.delivered(i, go);
            if !go {
                break;
            }
        }
        // The receivers not reached are dropped here: their jobs stop at their next item.
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const AHEAD: Ahead = Ahead { threads: 3, jobs: 4, items: 2 };

    /// Job i makes items 10i, 10i+1, 10i+2 and ends with i; later jobs finish first (the first waits for
    /// the last to have started), yet everything comes in job order.
    #[test]
    fn parts_come_in_job_order_whoever_runs_them() {
        let started = AtomicUsize::new(0);
        let job = |i: usize, emit: &mut Emit<'_, usize>| {
            started.fetch_add(1, Ordering::SeqCst);
            if i == 0 {
                while started.load(Ordering::SeqCst) < 4 {
                    std::thread::yield_now();
                }
            }
            for k in 0..3 {
                if !emit(10 * i + k) {
                    break;
                }
            }
            i
        };
        let mut got = Vec::new();
        run(8, AHEAD, &|_| false, &job, &mut |i, p| {
            got.push(match p {
                Part::Item(x) => (i, Some(x)),
                Part::Done(r) => (i, Some(1000 + r)),
                Part::Lost => (i, None),
            });
            true
        });
        let want: Vec<_> =
            (0..8).flat_map(|i| (0..3).map(move |k| (i, Some(10 * i + k))).chain([(i, Some(1000 + i))])).collect();
        assert_eq!(got, want);
    }

    /// A job that runs at its turn sees what the jobs before it left; a panicking job is lost, not fatal.
    #[test]
    fn a_job_at_its_turn_reads_what_came_before_and_a_panic_is_lost() {
        let left = Mutex::new(Vec::new());
        let job = |i: usize, emit: &mut Emit<'_, usize>| {
            match i {
                1 => panic!("job 1 fails"),
                3 => {
                    let mut before = std::mem::take(&mut *left.lock().unwrap());
                    before.sort_unstable();
                    for x in before {
                        emit(x);
                    }
                }
                _ => left.lock().unwrap().push(i),
            }
            i
        };
        let mut got = Vec::new();
        run(4, AHEAD, &|i| i == 3, &job, &mut |i, p| {
            got.push((i, format!("{p:?}")));
            true
        });
        let text: Vec<String> = got.iter().map(|(i, p)| format!("{i} {p}")).collect();
        assert_eq!(text, ["0 Done(0)", "1 Lost", "2 Done(2)", "3 Item(0)", "3 Item(2)", "3 Done(3)"]);
    }

    /// A consumer that stops gets nothing more, no job starts after, and every running job ends.
    #[test]
    fn a_stop_ends_every_job() {
        let started = AtomicUsize::new(0);
        let job = |_: usize, emit: &mut Emit<'_, usize>| {
            started.fetch_add(1, Ordering::SeqCst);
            let mut k = 0;
            while emit(k) {
                k += 1;
            }
        };
        let mut calls = 0;
        run(100, AHEAD, &|_| false, &job, &mut |_, _| {
            calls += 1;
            calls < 5
        });
        assert_eq!(calls, 5);
        assert!(started.load(Ordering::SeqCst) <= 1 + AHEAD.jobs, "at most the jobs ahead started");
    }
}
