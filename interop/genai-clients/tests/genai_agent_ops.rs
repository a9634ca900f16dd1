//! Issue 17 item 3, with genai 0.7's own helpers: `create_agent`, `invoke_workflow` and `plan`
//! spans and an evaluation result inside a decision. None of them is a model call: each gets
//! an entry type of its own, and the decision's end counts no `llm_calls`.

mod common;

use common::*;
use genai::otel::agent::{AgentSpan, invoke_workflow_span, plan_span};
use genai::otel::events::EvalResult;

#[tracing::instrument(skip_all, fields(audit.decision = "report.daily"))]
async fn decide() {
    let create = AgentSpan::create_agent()
        .with_name("Greeter")
        .with_id("agent_1")
        .with_model("gpt-4o")
        .start();
    drop(create);
    let workflow = invoke_workflow_span("daily-report");
    workflow.in_scope(|| {
        drop(plan_span(Some("Greeter")));
        EvalResult::new("Relevance")
            .with_score_value(4.0)
            .with_score_label("relevant")
            .with_response_id("chatcmpl-123")
            .emit();
    });
    drop(workflow);
}

#[test]
fn genai_agent_operations_are_not_model_calls() {
    let audit = Audit::new();
    audit.run("genai agent operations", decide());
    let log = audit.finish();
    log.dump();
    assert_eq!(
        log.types(),
        [
            "audit_open",
            "decision",
            "agent_creation",
            "agent_invocation",
            "evaluation",
            "workflow_invocation",
            "decision_end"
        ]
    );
    let decision_id = log.decision_id();
    let create = &log.payloads("agent_creation")[0];
    assert_eq!(create["operation"], "create_agent");
    assert_eq!(create["agent_name"], "Greeter");
    assert!(create.get("cost").is_none(), "{create}");
    let plan = &log.payloads("agent_invocation")[0];
    assert_eq!(plan["operation"], "plan");
    let eval = &log.payloads("evaluation")[0];
    assert_eq!(eval["evaluation_name"], "Relevance");
    assert_eq!(eval["score_value"], 4.0);
    assert_eq!(eval["score_label"], "relevant");
    assert_eq!(eval["response_id"], "chatcmpl-123");
    let workflow = &log.payloads("workflow_invocation")[0];
    assert_eq!(workflow["workflow_name"], "daily-report");
    assert_eq!(eval["parent_span_id"], workflow["span_id"]);
    assert_eq!(plan["parent_span_id"], workflow["span_id"]);
    for entry in [create, plan, eval, workflow] {
        assert_eq!(entry["decision_id"], decision_id);
    }
    let end = &log.payloads("decision_end")[0];
    assert!(end.get("llm_calls").is_none(), "{end}");
    log.assert_verifies();
}
