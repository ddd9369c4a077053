//! The client half: splitting a workload into batches an API accepts, and retrying only what
//! failed. Pairing the answers back is [`correlate`](crate::batch::correlate).

pub(crate) mod retry;
pub(crate) mod split;
