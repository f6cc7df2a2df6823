//! `GroupActor`: one per group while this node has online members of it. It fans a
//! group's messages out to the local members' `UserActor`s, encoded once; it stops when
//! its last member leaves (the `NodeActor` has forgotten it by then). It knows its members
//! as `Recipient`s of [`Deliver`], so it is tested alone.

use std::collections::HashMap;

use actix::prelude::*;

use super::user::Deliver;

/// The online members of one group on this node.
#[derive(Debug, Default)]
pub struct GroupActor {
    members: HashMap<String, Recipient<Deliver>>,
}

impl Actor for GroupActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

/// A member of the group is online here.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct JoinGroup {
    /// The member.
    pub user_id: String,
    /// Where their deliveries go (their `UserActor`).
    pub user: Recipient<Deliver>,
}

impl Handler<JoinGroup> for GroupActor {
    type Result = ();

    fn handle(&mut self, join: JoinGroup, _: &mut Self::Context) {
        self.members.insert(join.user_id, join.user);
    }
}

/// A member went offline here, or left the group.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct LeaveGroup {
    /// The member.
    pub user_id: String,
}

impl Handler<LeaveGroup> for GroupActor {
    type Result = ();

    fn handle(&mut self, leave: LeaveGroup, ctx: &mut Self::Context) {
        self.members.remove(&leave.user_id);
        if self.members.is_empty() {
            ctx.stop();
        }
    }
}

impl Handler<Deliver> for GroupActor {
    type Result = ();

    fn handle(&mut self, deliver: Deliver, _: &mut Self::Context) {
        let mut dropped = 0u64;
        for user in self.members.values() {
            if user.try_send(deliver.clone()).is_err() {
                dropped += 1;
            }
        }
        if dropped > 0 {
            metrics::counter!("confab_fanout_dropped_total").increment(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Stands in for a member's `UserActor`: counts what reaches it.
    #[derive(Default)]
    struct Member(usize);

    impl Actor for Member {
        type Context = Context<Self>;
    }

    impl Handler<Deliver> for Member {
        type Result = ();

        fn handle(&mut self, _: Deliver, _: &mut Self::Context) {
            self.0 += 1;
        }
    }

    /// How many deliveries reached the member so far (its mailbox is served in order, so
    /// the answer counts every delivery handed to it before).
    #[derive(Message)]
    #[rtype(result = "usize")]
    struct Count;

    impl Handler<Count> for Member {
        type Result = usize;

        fn handle(&mut self, _: Count, _: &mut Self::Context) -> usize {
            self.0
        }
    }

    fn delivery() -> Deliver {
        Deliver {
            frames: Arc::from([]),
            except: None,
            committed_at: None,
        }
    }

    #[actix::test]
    async fn a_delivery_reaches_every_member_until_they_leave_and_the_last_leaving_stops_it() {
        let group = GroupActor::default().start();
        let (ann, bob) = (Member::default().start(), Member::default().start());
        for (name, member) in [("ann", &ann), ("bob", &bob)] {
            let join = JoinGroup {
                user_id: name.into(),
                user: member.clone().recipient(),
            };
            group.send(join).await.unwrap();
        }
        group.send(delivery()).await.unwrap();
        let leave = |user_id: &str| LeaveGroup {
            user_id: user_id.into(),
        };
        group.send(leave("ann")).await.unwrap();
        group.send(delivery()).await.unwrap();
        let counts = (
            ann.send(Count).await.unwrap(),
            bob.send(Count).await.unwrap(),
        );
        assert_eq!(counts, (1, 2));
        group.send(leave("bob")).await.unwrap();
        assert!(group.send(delivery()).await.is_err(), "the group stopped");
    }
}
