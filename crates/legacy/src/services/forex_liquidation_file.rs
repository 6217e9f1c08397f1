//! `forex_liquidation_file`: the settlement file, transactions by when they settled.

use super::report_file::{answer, day_before, span};
use super::Call;
use crate::reply::Reply;

pub(crate) async fn handle(call: &Call<'_>) -> Reply {
    // What settled on day D happened on day D-1 (T+1, see report_file).
    answer(
        call,
        |p| span(day_before(p.first), day_before(p.last)),
        "No balance amount data in the period",
    )
    .await
}
