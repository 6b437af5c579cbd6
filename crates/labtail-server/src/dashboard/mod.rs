//! Live state for the web app, pushed rather than polled.
//!
//! - `updates.rs`: `container-update`: every lifecycle change of a lab
//!   container (from the Docker event stream) goes to the room of its owner
//!   and to instructors, so lists stay current without polling.
//! - `feed.rs`: `dashboard`: while at least one instructor has the
//!   dashboard open, labtail follows every lab container, counts lines and
//!   stderr lines, and sends a snapshot each second (and at once on a
//!   lifecycle change) to the dashboard room: state, lines per second,
//!   stderr counts and who is watching. When the last dashboard closes,
//!   those upstreams close too.
//!
//! Who has the dashboard open on this node, and the latest snapshot for a
//! newcomer, is `state::DashboardViewers`.
//!
//! Both go to the staff who may see each container: all-seeing sockets
//! share one broadcast, a socket limited to its courses gets each event
//! narrowed to them (`staff.rs`).
//!
//! Both are sent per node (`io.local()`): each node watches its own Docker
//! event stream and its own upstreams, so nothing is sent twice in a
//! cluster. "Who is watching" is the exception: it is read from the
//! `watching:` rooms of every node (through the Redis adapter when there is
//! one).

mod feed;
mod updates;

pub use feed::{narrow, spawn as spawn_feed};
pub use updates::push_container_updates;
