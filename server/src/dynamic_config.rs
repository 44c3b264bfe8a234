//! Temporal's dynamic configuration, the part Keel honours: `--dynamic-config-value KEY=VALUE`
//! (as `temporal server start-dev` takes it, which is how the SDKs' test harnesses set
//! thresholds and switches) and the `[dynamic_config]` table of `keel.toml`, under Temporal's
//! key names. A key Keel does not know is reported and ignored, as is a switch for
//! something Keel always does; a value of the wrong type stops the start.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::time::Duration;

/// A setting's value as given: the flag's text is read as YAML scalars are (true, 12, 1.5,
/// "quoted" or bare text), the file's as TOML values.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(t) => write!(f, "{t:?}"),
        }
    }
}

impl Value {
    fn parse(text: &str) -> Value {
        let t = text.trim();
        match t {
            "true" | "True" | "TRUE" => return Value::Bool(true),
            "false" | "False" | "FALSE" => return Value::Bool(false),
            _ => {}
        }
        if let Ok(i) = t.parse::<i64>() {
            return Value::Int(i);
        }
        if let Ok(f) = t.parse::<f64>() {
            return Value::Float(f);
        }
        let unquoted = t
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
        Value::Text(unquoted.unwrap_or(t).to_string())
    }

    fn from_toml(v: &toml::Value) -> anyhow::Result<Value> {
        Ok(match v {
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Integer(i) => Value::Int(*i),
            toml::Value::Float(f) => Value::Float(*f),
            toml::Value::String(s) => Value::Text(s.clone()),
            other => bail!("a {} is not a dynamic config value", other.type_str()),
        })
    }
}

/// The settings Keel honours, with Temporal's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicConfig {
    /// `system.enableEagerWorkflowStart`
    pub eager_workflow_start: bool,
    /// `system.enableActivityEagerExecution`
    pub eager_activities: bool,
    /// `limit.historyCount.suggestContinueAsNew`
    pub history_count_suggest_continue_as_new: i64,
    /// `limit.historySize.suggestContinueAsNew` (bytes)
    pub history_size_suggest_continue_as_new: i64,
    /// `frontend.namespaceRPS` (the `--namespace-rps` flag wins).
    pub namespace_rps: Option<f64>,
    /// `frontend.namespaceCount` (the `--namespace-long-poll-limit` flag wins).
    pub namespace_count: Option<usize>,
    /// `history.workflowIdReuseMinimalInterval`: the least time between the start of a run
    /// and the first workflow task of the run it continues as.
    pub workflow_id_reuse_minimal_interval: Duration,
    /// `matching.priorityLevels`
    pub priority_levels: u32,
    /// `matching.enableFairness`
    pub fairness: bool,
}

impl Default for DynamicConfig {
    fn default() -> Self {
        DynamicConfig {
            eager_workflow_start: true,
            eager_activities: true,
            history_count_suggest_continue_as_new: 4 * 1024,
            history_size_suggest_continue_as_new: 4 * 1024 * 1024,
            namespace_rps: None,
            namespace_count: None,
            workflow_id_reuse_minimal_interval: Duration::from_secs(1),
            priority_levels: 5,
            fairness: false,
        }
    }
}

/// Switches for things Keel always does: `true` is accepted quietly, `false` is reported.
const ALWAYS_ON: &[&str] = &[
    "frontend.enableUpdateWorkflowExecution",
    "frontend.enableUpdateWorkflowExecutionAsyncAccepted",
    "frontend.enableExecuteMultiOperation",
    "frontend.enableBatcher",
    "frontend.enableSchedules",
    "system.forceSearchAttributesCacheRefreshOnRead",
    "system.enableActivityRetryStampIncrement",
    "matching.useNewMatcher",
];

/// Temporal's bound on `matching.priorityLevels`.
const MAX_PRIORITY_LEVELS: i64 = 60;

/// What the settings leave for the operator to hear about (one line each).
pub type Notices = Vec<String>;

impl DynamicConfig {
    /// How matching orders a queue's tasks.
    pub fn dispatch_policy(&self) -> crate::matching::DispatchPolicy {
        crate::matching::DispatchPolicy {
            priority_levels: self.priority_levels,
            fairness: self.fairness,
        }
    }

    /// The configuration from `--dynamic-config-value` flags (later ones win) over the
    /// file's table.
    pub fn from_settings(
        flags: &[String],
        file: &BTreeMap<String, toml::Value>,
    ) -> anyhow::Result<(DynamicConfig, Notices)> {
        let mut settings = BTreeMap::new();
        for (key, value) in file {
            let value =
                Value::from_toml(value).with_context(|| format!("[dynamic_config] {key}"))?;
            settings.insert(key.clone(), value);
        }
        for flag in flags {
            let Some((key, value)) = flag.split_once('=') else {
                bail!("--dynamic-config-value {flag:?} is not KEY=VALUE");
            };
            settings.insert(key.trim().to_string(), Value::parse(value));
        }
        let mut config = DynamicConfig::default();
        let mut notices = Vec::new();
        for (key, value) in settings {
            config
                .set(&key, &value, &mut notices)
                .with_context(|| format!("dynamic config {key}"))?;
        }
        Ok((config, notices))
    }

    fn set(&mut self, key: &str, value: &Value, notices: &mut Notices) -> anyhow::Result<()> {
        match key {
            "system.enableEagerWorkflowStart" => self.eager_workflow_start = bool_of(value)?,
            "system.enableActivityEagerExecution" => self.eager_activities = bool_of(value)?,
            "limit.historyCount.suggestContinueAsNew" => {
                self.history_count_suggest_continue_as_new = positive(value)?
            }
            "limit.historySize.suggestContinueAsNew" => {
                self.history_size_suggest_continue_as_new = positive(value)?
            }
            "frontend.namespaceRPS" => {
                let rps = match value {
                    Value::Int(i) if *i > 0 => *i as f64,
                    Value::Float(f) if f.is_finite() && *f > 0.0 => *f,
                    _ => bail!("expected a positive number, got {value}"),
                };
                self.namespace_rps = Some(rps);
            }
            "frontend.namespaceCount" => self.namespace_count = Some(positive(value)? as usize),
            "history.workflowIdReuseMinimalInterval" => {
                self.workflow_id_reuse_minimal_interval = duration_of(value)?
            }
            "matching.priorityLevels" => match positive(value)? {
                levels @ 1..=MAX_PRIORITY_LEVELS => self.priority_levels = levels as u32,
                _ => bail!("expected at most {MAX_PRIORITY_LEVELS} levels, got {value}"),
            },
            "matching.enableFairness" => self.fairness = bool_of(value)?,
            _ if ALWAYS_ON.contains(&key) => {
                if !bool_of(value)? {
                    notices.push(format!("{key}=false is ignored: Keel always has it on"));
                }
            }
            _ => notices.push(format!("{key} is not a setting Keel honours; ignored")),
        }
        Ok(())
    }
}

fn bool_of(value: &Value) -> anyhow::Result<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => bail!("expected true or false, got {other}"),
    }
}

/// A duration as Temporal reads one: a number of seconds, or Go's notation ("1s", "500ms",
/// "1m30s"; a bare number in the text is seconds too).
fn duration_of(value: &Value) -> anyhow::Result<Duration> {
    let bad = || anyhow::anyhow!("expected a duration such as 1s or 500ms, got {value}");
    match value {
        Value::Int(i) if *i >= 0 => Ok(Duration::from_secs(*i as u64)),
        Value::Float(f) if f.is_finite() && *f >= 0.0 => Ok(Duration::from_secs_f64(*f)),
        Value::Text(t) => {
            if let Ok(secs) = t.trim().parse::<f64>() {
                return duration_of(&Value::Float(secs));
            }
            let mut total = Duration::ZERO;
            let mut rest = t.trim();
            if rest.is_empty() {
                return Err(bad());
            }
            while !rest.is_empty() {
                let number_len = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .ok_or_else(bad)?;
                let (number, tail) = rest.split_at(number_len);
                let number: f64 = number.parse().map_err(|_| bad())?;
                let unit_len = tail
                    .find(|c: char| c.is_ascii_digit() || c == '.')
                    .unwrap_or(tail.len());
                let (unit, tail) = tail.split_at(unit_len);
                let unit_secs = match unit {
                    "h" => 3600.0,
                    "m" => 60.0,
                    "s" => 1.0,
                    "ms" => 1e-3,
                    "us" | "µs" => 1e-6,
                    "ns" => 1e-9,
                    _ => return Err(bad()),
                };
                total += Duration::from_secs_f64(number * unit_secs);
                rest = tail;
            }
            Ok(total)
        }
        _ => Err(bad()),
    }
}

fn positive(value: &Value) -> anyhow::Result<i64> {
    match value {
        Value::Int(i) if *i > 0 => Ok(*i),
        other => bail!("expected a positive integer, got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(items: &[&str]) -> anyhow::Result<(DynamicConfig, Notices)> {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        DynamicConfig::from_settings(&items, &BTreeMap::new())
    }

    #[test]
    fn durations_read_as_temporal_reads_them() {
        let read = |flag: &str| {
            flags(&[&format!("history.workflowIdReuseMinimalInterval={flag}")])
                .map(|(c, _)| c.workflow_id_reuse_minimal_interval)
        };
        assert_eq!(read("2").unwrap(), Duration::from_secs(2));
        assert_eq!(read("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(read("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(read("\"0s\"").unwrap(), Duration::ZERO);
        assert!(read("soon").is_err());
        assert!(read("5 parsecs").is_err());
        assert_eq!(
            DynamicConfig::default().workflow_id_reuse_minimal_interval,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn flags_set_temporals_keys_and_unknown_ones_are_reported() {
        let (config, notices) = flags(&[
            "limit.historyCount.suggestContinueAsNew=10",
            "system.enableActivityEagerExecution=false",
            "frontend.namespaceRPS=2.5",
            "frontend.enableUpdateWorkflowExecution=true",
            "history.someSettingKeelLacks=\"x\"",
            "frontend.enableExecuteMultiOperation=false",
        ])
        .unwrap();
        assert_eq!(config.history_count_suggest_continue_as_new, 10);
        assert!(!config.eager_activities);
        assert!(config.eager_workflow_start, "default kept");
        assert_eq!(config.namespace_rps, Some(2.5));
        assert_eq!(
            config.dispatch_policy(),
            crate::matching::DispatchPolicy {
                priority_levels: 5,
                fairness: false
            }
        );
        let (matching, _) =
            flags(&["matching.priorityLevels=3", "matching.enableFairness=true"]).unwrap();
        assert_eq!(
            matching.dispatch_policy(),
            crate::matching::DispatchPolicy {
                priority_levels: 3,
                fairness: true
            }
        );
        assert_eq!(
            notices,
            vec![
                "frontend.enableExecuteMultiOperation=false is ignored: Keel always has it on",
                "history.someSettingKeelLacks is not a setting Keel honours; ignored",
            ]
        );
    }

    #[test]
    fn values_of_the_wrong_type_and_malformed_flags_are_refused() {
        for bad in [
            "limit.historyCount.suggestContinueAsNew=abc",
            "limit.historyCount.suggestContinueAsNew=0",
            "system.enableEagerWorkflowStart=yes please",
            "frontend.namespaceRPS=-1",
            "matching.priorityLevels=61",
            "matching.priorityLevels=0",
            "matching.enableFairness=1",
            "no-equals-sign",
        ] {
            assert!(flags(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_file_table_is_read_and_flags_win_over_it() {
        let file: BTreeMap<String, toml::Value> = toml::from_str(
            r#"
            "limit.historySize.suggestContinueAsNew" = 1024
            "system.enableEagerWorkflowStart" = false
            "#,
        )
        .unwrap();
        let (config, notices) = DynamicConfig::from_settings(
            &["system.enableEagerWorkflowStart=true".to_string()],
            &file,
        )
        .unwrap();
        assert_eq!(config.history_size_suggest_continue_as_new, 1024);
        assert!(config.eager_workflow_start);
        assert!(notices.is_empty());
        assert_eq!(Value::parse("'quoted'"), Value::Text("quoted".into()));
    }
}
