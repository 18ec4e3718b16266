//! Running a plan's steps: each as soon as the steps it depends on are done, lowest index first,
//! with up to `concurrency` writes in flight; with a concurrency of 1, exactly the printed order.
//! Steps that mostly wait ([`Runner::throttled`] false: the waits, and deletes that wait for a
//! finalizer) do not take a place among the writes, so twenty instances waiting for their
//! Deployments never hold back the next instance's writes. The first failure stops new steps
//! from starting and lets the running ones finish.
//!
//! This is scheduling only: what a step does is the [`Runner`]'s. [`super::terms::execute`] runs them
//! on the cluster; the tests below run them on an in-memory fake that can fail at step K and
//! delay any step, so concurrency, ordering and stop-on-failure are tested with no cluster.

use std::collections::BTreeSet;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;

use crate::plan::Step;

/// Carries out one step.
// All steps of a run are polled on one task, so the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Runner {
    /// Does `step`; an error stops the run.
    async fn run(&self, step: &Step) -> anyhow::Result<()>;

    /// Whether `step` counts against the concurrency (it writes more than it waits).
    fn throttled(&self, step: &Step) -> bool {
        let _ = step;
        true
    }
}

/// A run that stopped at a failed step.
#[derive(Debug)]
pub struct Stopped {
    /// The (0-based) index of the failed step; the first to fail, when several did.
    pub step: usize,
    /// Why it failed.
    pub error: anyhow::Error,
    /// How many steps were done.
    pub done: usize,
}

/// Runs every step of `steps` (indexed by `Step::index`, dependencies by index) with `runner`.
/// Returns the number of steps done.
///
/// # Errors
/// The first step that failed, once the steps still running have finished.
pub async fn run<R: Runner>(
    steps: &[Step],
    runner: &R,
    concurrency: usize,
) -> Result<usize, Stopped> {
    let total = steps.len();
    let mut pending: Vec<usize> = steps.iter().map(|s| s.depends_on.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); total];
    for s in steps {
        for d in &s.depends_on {
            dependents[d.step].push(s.index);
        }
    }
    let mut ready: BTreeSet<usize> = (0..total).filter(|i| pending[*i] == 0).collect();
    let mut running = FuturesUnordered::new();
    let mut writes = 0;
    let mut done = 0;
    let mut failure: Option<(usize, anyhow::Error)> = None;
    // At a concurrency of 1 every step counts, so the printed order is kept exactly.
    let counts = |step: &Step| concurrency <= 1 || runner.throttled(step);
    loop {
        while failure.is_none() {
            // The lowest ready step that may start now: any waiting one, a writing one while
            // there is room.
            let room = writes < concurrency.max(1);
            let Some(i) = ready.iter().copied().find(|i| room || !counts(&steps[*i])) else {
                break;
            };
            ready.remove(&i);
            let step = &steps[i];
            let throttled = counts(step);
            writes += usize::from(throttled);
            running.push(async move { (step.index, throttled, runner.run(step).await) });
        }
        let Some((i, throttled, outcome)) = running.next().await else { break };
        writes -= usize::from(throttled);
        match outcome {
            Ok(()) => {
                done += 1;
                for &d in &dependents[i] {
                    pending[d] -= 1;
                    if pending[d] == 0 {
                        ready.insert(d);
                    }
                }
            }
            // The first failure is reported; later ones (often its consequences) are not.
            Err(e) => {
                if failure.is_none() {
                    failure = Some((i, e));
                }
            }
        }
    }
    if let Some((step, error)) = failure {
        return Err(Stopped { step, error, done });
    }
    assert_eq!(done, total, "every step ran: the plan's dependencies form a DAG");
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::plan::{Dependency, StepKind};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Event {
        Start(usize),
        End(usize),
    }

    /// An in-memory runner: every step takes `delay` (longer for the ones in `slow`), `fail`
    /// fails, and it records when each step starts and ends and how many ran at once.
    #[derive(Default)]
    struct Fake {
        delay_ms: u64,
        slow: Vec<usize>,
        fail: Option<usize>,
        /// Steps that only wait (not throttled).
        waits: Vec<usize>,
        events: Mutex<Vec<Event>>,
        running: AtomicUsize,
        most: AtomicUsize,
        writing: AtomicUsize,
        most_writing: AtomicUsize,
    }

    impl Runner for Fake {
        async fn run(&self, step: &Step) -> anyhow::Result<()> {
            self.events.lock().unwrap().push(Event::Start(step.index));
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let write = !self.waits.contains(&step.index);
            if write {
                let w = self.writing.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_writing.fetch_max(w, Ordering::SeqCst);
            }
            let ms =
                if self.slow.contains(&step.index) { self.delay_ms * 4 } else { self.delay_ms };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if write {
                self.writing.fetch_sub(1, Ordering::SeqCst);
            }
            self.events.lock().unwrap().push(Event::End(step.index));
            if self.fail == Some(step.index) {
                anyhow::bail!("step {} failed (injected)", step.index);
            }
            Ok(())
        }

        fn throttled(&self, step: &Step) -> bool {
            !self.waits.contains(&step.index)
        }
    }

    impl Fake {
        fn events(&self) -> Vec<Event> {
            self.events.lock().unwrap().clone()
        }
        fn started(&self) -> Vec<usize> {
            self.events()
                .iter()
                .filter_map(|e| if let Event::Start(i) = e { Some(*i) } else { None })
                .collect()
        }
    }

    /// Steps `0..n`, with `edges` as (before, after).
    fn steps(n: usize, edges: &[(usize, usize)]) -> Vec<Step> {
        (0..n)
            .map(|i| Step {
                index: i,
                kind: StepKind::WaitEstablished { crd: format!("c{i}") },
                depends_on: edges
                    .iter()
                    .filter(|(_, b)| *b == i)
                    .map(|(a, _)| Dependency {
                        step: *a,
                        rule: crate::plan::order::Order::NamespaceFirst,
                    })
                    .collect(),
            })
            .collect()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn never_runs_more_steps_at_once_than_the_concurrency() {
        let plan = steps(12, &[]);
        for concurrency in [1, 3, 8] {
            let fake = Fake { delay_ms: 15, ..Fake::default() };
            let done = runtime().block_on(run(&plan, &fake, concurrency)).unwrap();
            assert_eq!(done, 12);
            assert_eq!(
                fake.most.load(Ordering::SeqCst),
                concurrency,
                "uses, and keeps to, {concurrency}"
            );
        }
    }

    #[test]
    fn waiting_steps_do_not_hold_back_writes() {
        // Nine instances: each writes (even index) then waits long (odd index) on its write.
        let edges: Vec<_> = (0..9).map(|k| (2 * k, 2 * k + 1)).collect();
        let plan = steps(18, &edges);
        let waits: Vec<_> = (0..9).map(|k| 2 * k + 1).collect();
        let fake = Fake { delay_ms: 10, slow: waits.clone(), waits, ..Fake::default() };
        runtime().block_on(run(&plan, &fake, 3)).unwrap();
        assert_eq!(fake.most_writing.load(Ordering::SeqCst), 3, "writes keep to the concurrency");
        assert!(
            fake.most.load(Ordering::SeqCst) > 6,
            "waits run beside them: {}",
            fake.most.load(Ordering::SeqCst)
        );
        // Every write started before the first wait ended: no write waited for a wait.
        let events = fake.events();
        let first_wait_end =
            events.iter().position(|e| matches!(e, Event::End(i) if i % 2 == 1)).unwrap();
        let last_write_start =
            events.iter().rposition(|e| matches!(e, Event::Start(i) if i % 2 == 0)).unwrap();
        assert!(last_write_start < first_wait_end, "{events:?}");
    }

    #[test]
    fn a_step_starts_only_after_every_step_it_depends_on_ended() {
        // A diamond and a chain, with a slow step on one side of the diamond.
        let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (5, 6), (6, 7)];
        let plan = steps(9, &edges);
        let fake = Fake { delay_ms: 10, slow: vec![2], ..Fake::default() };
        runtime().block_on(run(&plan, &fake, 4)).unwrap();
        let events = fake.events();
        let at = |e: Event| events.iter().position(|x| *x == e).unwrap();
        for (a, b) in edges {
            assert!(
                at(Event::End(a)) < at(Event::Start(b)),
                "{b} started before {a} ended: {events:?}"
            );
        }
        assert!(fake.most.load(Ordering::SeqCst) > 1, "independent steps overlap: {events:?}");
    }

    #[test]
    fn with_a_concurrency_of_one_the_printed_order_is_kept() {
        let plan = steps(6, &[(0, 3), (1, 2)]);
        let fake = Fake { delay_ms: 1, ..Fake::default() };
        runtime().block_on(run(&plan, &fake, 1)).unwrap();
        assert_eq!(fake.started(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_failure_stops_new_steps_lets_running_ones_finish_and_reports_the_step() {
        // 0 → 1 → 2 and independent 3, 4, 5; step 1 fails while the slow 3 is still running.
        let plan = steps(6, &[(0, 1), (1, 2)]);
        let fake = Fake { delay_ms: 10, slow: vec![3], fail: Some(1), ..Fake::default() };
        let stopped = runtime().block_on(run(&plan, &fake, 2)).unwrap_err();
        assert_eq!(stopped.step, 1);
        assert!(stopped.error.to_string().contains("injected"));
        let events = fake.events();
        assert!(!fake.started().contains(&2), "a step after the failed one ran: {events:?}");
        assert!(events.contains(&Event::End(3)), "the running step was waited for: {events:?}");
        let failed_at = events.iter().position(|e| *e == Event::End(1)).unwrap();
        assert!(
            !events[failed_at..].iter().any(|e| matches!(e, Event::Start(_))),
            "nothing starts after the failure: {events:?}"
        );
        let ended = events.iter().filter(|e| matches!(e, Event::End(_))).count();
        assert_eq!(stopped.done, ended - 1, "done counts the steps that succeeded");
    }
}
