//! `ps`, and `scale TYPE=N...` with all types in one request.

use std::collections::BTreeMap;

use paas_core::api::{FormationUpdate, Process, ProcessFormation};
use paas_core::formation::parse_scale;

use super::Ctx;
use crate::output::{self, Step};
use crate::views;

/// `paas ps`: the app's processes as the scheduler last saw them.
pub(super) fn ps(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/processes"))?;
    ctx.show(value, |processes: Vec<Process>| {
        if processes.is_empty() {
            output::say(format!("{app} runs no processes; start some with paas scale web=1 -a {app}"));
            return Ok(());
        }
        output::say(format!("=== {app} processes"));
        output::data(&views::processes(&processes))
    })
}

/// `paas scale web=2 worker=1`; prints the whole formation afterwards.
pub(super) fn scale(ctx: &Ctx, changes: &[String]) -> anyhow::Result<()> {
    // A type given twice counts once, with its last quantity.
    let mut wanted = BTreeMap::new();
    for c in changes {
        let (process_type, quantity) = parse_scale(c)?;
        wanted.insert(process_type, quantity);
    }
    let app = ctx.app()?;
    let api = ctx.api()?;
    let updates: Vec<ProcessFormation> = wanted
        .into_iter()
        .map(|(t, q)| ProcessFormation { process_type: t.to_string(), quantity: q.get() })
        .collect();
    let step = Step::start(format!("Scaling {app} to {}", views::formation(&updates)));
    let formation: Vec<ProcessFormation> =
        api.patch_as(&format!("/apps/{app}/formation"), &FormationUpdate { updates })?;
    step.done("");
    output::data_line(views::formation(&formation))
}
