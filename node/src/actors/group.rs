//! `GroupActor`: one per group while this node has online members of it. It fans a
//! group's messages out to the local members' `UserActor`s, encoded once; it stops when
//! its last member leaves (the `NodeActor` has forgotten it by then).

use std::collections::HashMap;

use actix::prelude::*;

use super::user::{Deliver, UserActor};

/// The online members of one group on this node.
#[derive(Debug, Default)]
pub struct GroupActor {
    members: HashMap<String, Addr<UserActor>>,
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
    /// Their actor.
    pub user: Addr<UserActor>,
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
