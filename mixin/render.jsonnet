// jsonnet -J . mixin/render.jsonnet: the three outputs, as tooling sees them.
local mixin = import 'mixin.libsonnet';
{
  prometheusAlerts: mixin.prometheusAlerts,
  prometheusRules: mixin.prometheusRules,
  grafanaDashboards: mixin.grafanaDashboards,
}
