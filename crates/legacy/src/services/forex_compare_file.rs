//! `forex_compare_file`: the reconciliation file, transactions by when they happened.

use super::report_file::{answer, span};
use super::Call;
use crate::reply::Reply;

pub(crate) async fn handle(call: &Call<'_>) -> Reply {
    answer(
        call,
        |p| span(p.first, p.last),
        "No balance account data in the period",
    )
    .await
}
