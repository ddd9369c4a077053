//! The client half: splitting a workload into batches an API accepts, retrying only what
//! failed, and following an asynchronous batch's status monitor. Pairing the answers back is
//! [`correlate`](crate::batch::correlate).

pub(crate) mod monitor;
pub(crate) mod retry;
pub(crate) mod split;
