//! The queue between the node and its driver: outputs wait here until read.

use crate::event::{Event, Output};
use crate::name::Name;
use std::collections::VecDeque;

/// Room for outputs a node keeps between calls; more is given back once drained.
const MAX_IDLE_OUTPUTS: usize = 64;

/// Outputs waiting for the driver, in the order they were made.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Output>,
}

impl Outbox {
    pub fn push(&mut self, output: Output) {
        self.queue.push_back(output);
    }

    pub fn event(&mut self, event: Event) {
        self.queue.push_back(Output::Event(event));
    }

    pub fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }

    /// Where the queue ends now: what is queued after this is new.
    pub fn mark(&self) -> usize {
        self.queue.len()
    }

    /// A member's first event carries its namespace when it came with the
    /// member (a join or repair frame holds both): the first writes of a
    /// member that joined since `mark` move into its
    /// [`Event::MemberJoined`], in key order, instead of one
    /// [`Event::KeySet`] each.
    pub fn fold_namespaces(&mut self, mark: usize) {
        let joined = |o: &Output| matches!(o, Output::Event(Event::MemberJoined { .. }));
        if !self.queue.range(mark..).any(joined) {
            return;
        }
        let mut at: std::collections::BTreeMap<Name, usize> = Default::default();
        let mut kept: Vec<Output> = Vec::with_capacity(self.queue.len() - mark);
        for o in self.queue.drain(mark..) {
            match o {
                Output::Event(Event::MemberJoined { ref member, .. }) => {
                    at.insert(member.name.clone(), kept.len());
                    kept.push(o);
                }
                Output::Event(Event::KeySet {
                    member,
                    key,
                    old: None,
                    value,
                    version,
                }) if at.contains_key(&member) => {
                    if let Output::Event(Event::MemberJoined { keys, .. }) = &mut kept[at[&member]]
                    {
                        keys.push((key, value, version));
                    }
                }
                other => kept.push(other),
            }
        }
        for o in kept.iter_mut() {
            if let Output::Event(Event::MemberJoined { keys, .. }) = o {
                keys.sort_by(|a, b| a.0.cmp(&b.0));
            }
        }
        self.queue.extend(kept);
    }

    /// Gives back room once the driver has drained a burst: merging a full
    /// state queues an event per new member, and a simulator holds thousands
    /// of nodes that each merged a full state once.
    pub fn shrink_idle(&mut self) {
        let cap = self.queue.capacity();
        if cap > MAX_IDLE_OUTPUTS && self.queue.len() * 4 <= cap {
            self.queue
                .shrink_to(self.queue.len().max(MAX_IDLE_OUTPUTS / 4));
        }
    }

    /// The outputs as an iterator that pops them as they are read.
    pub fn drain(&mut self) -> Outputs<'_> {
        Outputs { outbox: self }
    }
}

/// The outputs of a node, popped one by one as they are read.
///
/// [`Node::step`](crate::Node::step) returns it. What is not read stays queued:
/// the next [`poll_output`](crate::Node::poll_output), or the iterator of
/// the next `step`, returns it. Nothing is lost by dropping it early.
#[must_use = "carry out every output (or read them later with Node::poll_output)"]
#[derive(Debug)]
pub struct Outputs<'a> {
    outbox: &'a mut Outbox,
}

impl Iterator for Outputs<'_> {
    type Item = Output;

    fn next(&mut self) -> Option<Output> {
        self.outbox.pop()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.outbox.queue.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Outputs<'_> {}

impl core::iter::FusedIterator for Outputs<'_> {}
