//! When each step of a stage runs: CodePipeline's `RunOrder`. `pre` steps come first, then the
//! unpositioned ones, then `post`; within each group steps run in the order listed, and a step
//! marked `parallel` shares the run order of the step listed before it in its group.

use super::spec::{Position, StageSpec, StepSpec};

fn group(step: &StepSpec) -> u8 {
    match step.position {
        Some(Position::Pre) => 0,
        None => 1,
        Some(Position::Post) => 2,
    }
}

/// The run order of every step of the stage, in listing order (the first runs at 1).
pub fn run_orders(stage: &StageSpec) -> Vec<u32> {
    let mut orders = vec![0; stage.steps.len()];
    let mut next = 1;
    for rank in 0..=2 {
        let mut previous: Option<u32> = None;
        for (index, step) in stage.steps.iter().enumerate() {
            if group(step) != rank {
                continue;
            }
            let order = match previous {
                Some(order) if step.parallel => order,
                _ => {
                    next += 1;
                    next - 1
                }
            };
            orders[index] = order;
            previous = Some(order);
        }
    }
    orders
}

/// Whether the step is marked `parallel` but no step of its group is listed before it.
pub fn parallel_without_predecessor(stage: &StageSpec, index: usize) -> bool {
    let step = &stage.steps[index];
    step.parallel
        && !stage.steps[..index]
            .iter()
            .any(|earlier| group(earlier) == group(step))
}

/// A step's reference to an earlier step's output: `Step` (same stage) or `Stage/Step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRef {
    pub stage: usize,
    pub step: usize,
}

/// Resolves `reference` written in stage `stage_index`'s step `step_index` to an earlier step,
/// or says why it cannot be one.
pub fn resolve_input(
    stages: &[StageSpec],
    stage_index: usize,
    step_index: usize,
    reference: &str,
) -> Result<StepRef, String> {
    let (stage_position, step_name) = match reference.split_once('/') {
        Some((stage_name, step_name)) => {
            let position = stages
                .iter()
                .position(|s| s.name == stage_name)
                .ok_or_else(|| format!("no stage named '{stage_name}'"))?;
            if position >= stage_index {
                return Err(format!(
                    "'{reference}' is not an earlier stage's step: a step reads only outputs of steps that ran before it"
                ));
            }
            (position, step_name)
        }
        None => (stage_index, reference),
    };
    let stage = &stages[stage_position];
    let found = stage
        .steps
        .iter()
        .position(|s| s.action_name() == step_name)
        .ok_or_else(|| format!("no step named '{step_name}' in stage '{}'", stage.name))?;
    if stage_position == stage_index {
        let orders = run_orders(stage);
        if orders[found] >= orders[step_index] {
            return Err(format!(
                "'{step_name}' does not run before this step (same or later run order): a step reads only outputs of steps that ran before it"
            ));
        }
    }
    Ok(StepRef {
        stage: stage_position,
        step: found,
    })
}
