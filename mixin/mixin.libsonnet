// llm-healthboard as a monitoring mixin (kube-prometheus, mixtool, grafana's mixin tooling): the project's own
// rule files and dashboards (one source of truth; tests/test_mixin.py renders this with jsonnet and compares it to
// them). The rules come through rules.json, prometheus/rules/*.yml as JSON (mixin/generate.py; Debian's jsonnet
// 0.18 std.parseYaml breaks on YAML block scalars). Thresholds are the detector's parameters in detector.yml.
local alerting(groups) = [g { rules: [r for r in g.rules if std.objectHas(r, 'alert')] } for g in groups];
local recording(groups) = [g { rules: [r for r in g.rules if std.objectHas(r, 'record')] } for g in groups];
local nonEmpty(groups) = [g for g in groups if std.length(g.rules) > 0];
local files = import 'rules.json';  // file name → its content, every file of prometheus/rules/
local all = std.flattenArrays([files[name].groups for name in std.objectFields(files)]);
{
  prometheusAlerts+:: { groups+: nonEmpty(alerting(all)) },
  prometheusRules+:: { groups+: nonEmpty(recording(all)) },
  grafanaDashboards+:: {
    'llm-api-health.json': import '../grafana/provisioning/dashboards/json/llm-api-health.json',
    'llm-history.json': import '../grafana/provisioning/dashboards/json/llm-history.json',
    'llm-healthboard-self-health.json': import '../grafana/provisioning/dashboards/json/llm-healthboard-self-health.json',
  },
}
