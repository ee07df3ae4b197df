//! `ash approve ID` and `ash deny ID`: one decision, named for the audit trail.

use shared::request_id::short;
use shared::{DecideRequest, Verdict};

use crate::display::one_line;
use crate::json::{self, RequestJson};
use crate::outcome::SUCCESS;
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The request ID, or a unique prefix of one
    id: String,
    /// Who decides, for the audit trail [default: your login name]
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Why; a denial's reason reaches the agent verbatim
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

pub async fn run(globals: &Globals, verdict: Verdict, args: Args) -> anyhow::Result<u8> {
    super::check_id(&args.id)?;
    let operator = args
        .operator
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(super::login_name);
    let mut client = super::connect_operator(globals).await?;
    let view = client
        .decide(&DecideRequest {
            id: args.id,
            verdict,
            operator,
            reason: args.reason,
            scope: shared::Scope::Once,
        })
        .await?;
    if globals.json {
        json::print(&RequestJson::from(&view))?;
    } else {
        println!(
            "{} {} ({} from {})",
            view.state,
            short(&view.id),
            one_line(&view.tool),
            one_line(&view.agent.name)
        );
    }
    Ok(SUCCESS)
}
