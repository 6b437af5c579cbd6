//! Attention's metric names (`docs/operations.md`).

/// Entries made, by `signal`.
pub const ENTRIES: &str = "labtail_attention_entries_total";
/// Findings dropped because the queue to the database was full.
pub const FINDINGS_DROPPED: &str = "labtail_attention_findings_dropped_total";
/// Lines evaluated, and the time it took (ns): the evaluator's cost.
pub const LINES_EVALUATED: &str = "labtail_attention_lines_evaluated_total";
pub const EVAL_NANOS: &str = "labtail_attention_eval_nanoseconds_total";
