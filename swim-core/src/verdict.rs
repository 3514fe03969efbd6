//! The evidence behind a dead verdict, so that a node that did not make
//! the verdict can still explain it.
//!
//! The member whose suspicion timer ran out (the accuser) puts on its dead
//! update who confirmed the suspicion (at most [`MAX_CONFIRMERS`] names),
//! its own Lifeguard score and how long the suspicion ran ([`Evidence`]).
//! Gossip passes the update on unchanged, so every node learns the same
//! evidence; each records it with when and from whom it learned the
//! verdict ([`Verdict`], see [`Node::verdict`](crate::Node::verdict) and
//! [`Node::explain`](crate::Node::explain)).

use crate::member::Member;
use crate::name::Name;
use crate::time::Instant;
use core::time::Duration;

/// The most confirmers a verdict carries on the wire (and a node keeps):
/// further names on the wire are ignored.
pub const MAX_CONFIRMERS: usize = 4;

/// What the accuser saw when it declared a member dead, as its dead update
/// carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evidence {
    /// The other members whose suspicions the accuser counted (the first
    /// suspect-er included when it was not the accuser), in the order it
    /// heard them; at most [`MAX_CONFIRMERS`].
    pub confirmers: Vec<Name>,
    /// The accuser's Lifeguard score at the verdict (0: healthy).
    pub accuser_score: u32,
    /// How long the suspicion had run at the verdict (milliseconds on the
    /// wire; at least 1 ms).
    pub suspected_for: Duration,
}

impl Evidence {
    /// Evidence as an accuser states it (empty names and the confirmers
    /// past [`MAX_CONFIRMERS`] are left out; the age is at least 1 ms).
    pub fn new(
        confirmers: impl IntoIterator<Item = Name>,
        accuser_score: u32,
        suspected_for: Duration,
    ) -> Evidence {
        Evidence {
            confirmers: confirmers
                .into_iter()
                .filter(|c| !c.is_empty())
                .take(MAX_CONFIRMERS)
                .collect(),
            accuser_score,
            suspected_for: suspected_for.max(Duration::from_millis(1)),
        }
    }

    /// The suspicion's age as the wire carries it: whole milliseconds, at
    /// least 1 (0 means "no evidence").
    pub(crate) fn wire_ms(&self) -> u64 {
        u64::try_from(self.suspected_for.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// A dead verdict on a member as this node holds it: who made it, its
/// evidence when the accuser sent some, and when and from whom this node
/// learned it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdict {
    /// The incarnation the member was declared dead at.
    pub incarnation: u64,
    /// Who declared it dead: the member whose suspicion timer ran out
    /// (this node's name when it was this node).
    pub accuser: Name,
    /// What the accuser saw; `None` when its update carried none (a build
    /// before evidence, or a verdict that reached this node in a full
    /// state).
    pub evidence: Option<Evidence>,
    /// When this node took the verdict.
    pub learned_at: Instant,
    /// The member whose packet or frame carried the verdict to this node,
    /// when it was a member speaking from its own address; `None` when
    /// this node made the verdict itself, or the sender could not be told
    /// (a stranger, or a name spoken from another address).
    pub learned_from: Option<Name>,
    /// This node made the verdict itself (its own suspicion ran out); not
    /// what the update names as its accuser, which anyone may write.
    pub own: bool,
}

impl Verdict {
    /// A verdict as a node records it (nodes make these; this is for
    /// tools and tests that need one without a node).
    pub fn new(
        incarnation: u64,
        accuser: Name,
        evidence: Option<Evidence>,
        learned_at: Instant,
        learned_from: Option<Name>,
        own: bool,
    ) -> Verdict {
        Verdict {
            incarnation,
            accuser,
            evidence,
            learned_at,
            learned_from,
            own,
        }
    }
}

/// A member's running suspicion as this node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Suspected {
    /// Who suspected it, the first accuser first, then each confirmation
    /// this node counted.
    pub accusers: Vec<Name>,
    /// When this node started suspecting it.
    pub since: Instant,
    /// When it is to be declared dead unless refuted or confirmed further.
    pub deadline: Instant,
}

/// Why this node holds a member where it does (see
/// [`Node::explain`](crate::Node::explain)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// The member as this node holds it now.
    pub member: Member,
    /// Since when it has had this status here.
    pub since: Instant,
    /// Its running suspicion, while it is suspect.
    pub suspicion: Option<Suspected>,
    /// The last dead verdict this node took on it (it may have come back
    /// since), kept until the member is reaped.
    pub verdict: Option<Verdict>,
}
