//! One user's presence turns on this node, held by the user's `UserActor`: each socket that
//! connects or disconnects takes a turn, in the order the actor saw them, and announces the
//! user's presence in that order. Otherwise the late "offline" of an earlier connection
//! could overtake the "online" and "offline" of a newer one: contacts would be told a
//! last-seen time other than the one stored.
//!
//! Flapping collapses: a turn whose time comes while a later one is queued announces
//! nothing and passes its announcement on ([`Turn::superseded`]); the last turn then
//! announces the user's state as it is by then. A user reconnecting in a loop so costs
//! their contacts one announcement per burst, not two per connection, and the queue drains
//! as fast as connections come (each is capped by the CONNECT rate limit).
//!
//! The actor stays (and with it the queue) while a turn is open, also once the user's last
//! socket is gone, so that a quick return queues behind the departure's turn.

use std::sync::{Arc, Mutex, MutexGuard};

use actix::{Message, Recipient};
use tokio::sync::oneshot;

/// A user's queue of turns.
#[derive(Debug, Clone, Default)]
pub(super) struct Turns(Arc<Mutex<Queue>>);

#[derive(Debug, Default)]
struct Queue {
    issued: u64,
    /// The last turn queued, and what resolves when it ends.
    last: Option<(u64, oneshot::Receiver<()>)>,
    /// Whether skipped turns owe an announcement to the last one.
    owed: bool,
    /// Turns not dropped yet.
    open: usize,
}

/// Sent to the user's actor when one of its turns ends.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(super) struct TurnEnded;

impl Turns {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a turn behind the earlier ones; `ended` hears when it ends.
    pub(super) fn queue(&self, ended: Recipient<TurnEnded>) -> Turn {
        let (done, finished) = oneshot::channel();
        let mut queue = self.lock();
        queue.issued += 1;
        queue.open += 1;
        let number = queue.issued;
        let previous = queue
            .last
            .replace((number, finished))
            .map(|(_, previous)| previous);
        Turn {
            turns: self.clone(),
            number,
            previous,
            ended,
            _done: done,
        }
    }

    /// Whether no turn is open.
    pub(super) fn idle(&self) -> bool {
        self.lock().open == 0
    }
}

/// A place in the user's queue of announcements; the next turn may go once it is dropped.
/// Each turn waits ([`Turn::wait`]) before it is dropped, also one with nothing to
/// announce: the next turn then waits for every earlier one, not only the one before it.
#[derive(Debug)]
pub struct Turn {
    turns: Turns,
    number: u64,
    previous: Option<oneshot::Receiver<()>>,
    ended: Recipient<TurnEnded>,
    _done: oneshot::Sender<()>,
}

impl Turn {
    /// Resolves once every earlier turn of the user has ended.
    pub async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            // An error only means the earlier turn was dropped: it ended too.
            let _ = previous.await;
        }
    }

    /// After [`Turn::wait`]: whether a later turn of the user is queued. If so, this turn
    /// announces nothing and, when it had something to announce, leaves it to the last
    /// turn (which [`Turn::take_owed`] tells).
    pub fn superseded(&self, would_announce: bool) -> bool {
        let mut queue = self.turns.lock();
        let later = queue
            .last
            .as_ref()
            .is_some_and(|(number, _)| *number != self.number);
        if later && would_announce {
            queue.owed = true;
        }
        later
    }

    /// Whether skipped turns left this one an announcement of the user's current state.
    pub fn take_owed(&self) -> bool {
        std::mem::take(&mut self.turns.lock().owed)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut queue = self.turns.lock();
        if queue
            .last
            .as_ref()
            .is_some_and(|(number, _)| *number == self.number)
        {
            queue.last = None;
            queue.owed = false;
        }
        queue.open -= 1;
        drop(queue);
        self.ended.do_send(TurnEnded);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use actix::{Actor, Context, Handler};

    use super::*;

    /// Stands in for the user's actor: counts the turns that ended.
    #[derive(Default)]
    struct Owner(usize);

    impl Actor for Owner {
        type Context = Context<Self>;
    }

    impl Handler<TurnEnded> for Owner {
        type Result = ();

        fn handle(&mut self, _: TurnEnded, _: &mut Self::Context) {
            self.0 += 1;
        }
    }

    #[derive(Message)]
    #[rtype(result = "usize")]
    struct Ended;

    impl Handler<Ended> for Owner {
        type Result = usize;

        fn handle(&mut self, _: Ended, _: &mut Self::Context) -> usize {
            self.0
        }
    }

    #[actix::test]
    async fn turns_run_in_queue_order_and_the_owner_hears_each_end() {
        let owner = Owner::default().start();
        let turns = Turns::default();
        let ran = Rc::new(RefCell::new(Vec::new()));
        let queued: Vec<_> = (0..3)
            .map(|_| turns.queue(owner.clone().recipient()))
            .collect();
        assert!(!turns.idle());
        let mut handles = Vec::new();
        // Started last first: each still waits for the turns queued before it.
        for (index, mut turn) in queued.into_iter().enumerate().rev() {
            let ran = ran.clone();
            handles.push(actix::spawn(async move {
                turn.wait().await;
                ran.borrow_mut().push(index);
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
        assert_eq!(*ran.borrow(), vec![0, 1, 2]);
        assert!(turns.idle());
        assert!(turns.lock().last.is_none());
        assert_eq!(owner.send(Ended).await.unwrap(), 3);
    }

    #[actix::test]
    async fn flapping_turns_leave_one_announcement_to_the_last() {
        let owner = Owner::default().start();
        let turns = Turns::default();
        // Online (announces), offline (announces), online of a second socket (does not).
        let mut queued: Vec<_> = (0..3)
            .map(|_| turns.queue(owner.clone().recipient()))
            .collect();
        let mut last = queued.pop().unwrap();
        for (would_announce, mut turn) in [true, true].into_iter().zip(queued) {
            turn.wait().await;
            assert!(turn.superseded(would_announce), "a later turn is queued");
        }
        last.wait().await;
        assert!(!last.superseded(false), "the last turn goes");
        assert!(last.take_owed(), "and announces for the skipped ones");
        assert!(!last.take_owed());
        drop(last);
        // Nothing owed, nothing queued once the turns end.
        let mut alone = turns.queue(owner.recipient());
        alone.wait().await;
        assert!(!alone.superseded(true) && !alone.take_owed());
        drop(alone);
        let queue = turns.lock();
        assert!(queue.last.is_none() && !queue.owed && queue.open == 0);
    }
}
