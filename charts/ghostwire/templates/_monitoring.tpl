{{/* Monitoring: helpers of templates/monitoring-*.yaml ------------------------------------------------ */}}

{{/* PodMonitor of the injected watchers; its Prometheus job label is "<namespace>/<name>". */}}
{{- define "ghostwire.monitoring.watchersName" -}}
{{- printf "%s-watchers" (include "ghostwire.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ghostwire.monitoring.watchersNamespace" -}}
{{- default .Release.Namespace .Values.metrics.podMonitor.namespace -}}
{{- end -}}

{{/* Named port of the shadow controller's /metrics (plain HTTP, 8080). */}}
{{- define "ghostwire.monitoring.controllerPortName" -}}metrics{{- end -}}

{{/* PromQL label matchers of the webhook's series. A ServiceMonitor's job label is the Service name. */}}
{{- define "ghostwire.monitoring.webhookSelector" -}}
{{- $s := trim .Values.metrics.prometheusRule.webhookSelector | trimSuffix "," -}}
{{- if $s -}}
{{- $s -}}
{{- else -}}
{{- printf "job=%q,namespace=%q" (include "ghostwire.serviceName" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* PromQL label matchers of the watchers' series: the value, else the PodMonitor's job, else none (""). */}}
{{- define "ghostwire.monitoring.watcherSelector" -}}
{{- $s := trim .Values.metrics.prometheusRule.watcherSelector | trimSuffix "," -}}
{{- if $s -}}
{{- $s -}}
{{- else if .Values.metrics.podMonitor.enabled -}}
{{- printf "job=%q" (printf "%s/%s" (include "ghostwire.monitoring.watchersNamespace" .) (include "ghostwire.monitoring.watchersName" .)) -}}
{{- end -}}
{{- end -}}

{{/* A PromQL selector's braces around the non-empty matchers of a list: {a,b}, or nothing at all. */}}
{{- define "ghostwire.monitoring.braces" -}}
{{- $out := list -}}
{{- range . -}}
{{- if . -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- if $out -}}
{{- printf "{%s}" (join "," $out) -}}
{{- end -}}
{{- end -}}

{{/* Seconds of a Prometheus duration such as 1m30s or 500ms. */}}
{{- define "ghostwire.monitoring.seconds" -}}
{{- $units := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "d" 86400.0 "w" 604800.0 "y" 31536000.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" . -1 -}}
{{- $n := regexFind "^[0-9]+" . | float64 -}}
{{- $total = addf $total (mulf $n (get $units (regexReplaceAll "^[0-9]+" . ""))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
Fails when a monitor's scrapeTimeout exceeds its interval (Prometheus refuses such a scrape configuration, so the
Operator would drop the monitor). Argument: (list "<values path>" <monitor values>).
*/}}
{{- define "ghostwire.monitoring.checkTimeout" -}}
{{- $path := index . 0 -}}
{{- $m := index . 1 -}}
{{- $interval := include "ghostwire.monitoring.seconds" $m.interval | float64 -}}
{{- $timeout := include "ghostwire.monitoring.seconds" $m.scrapeTimeout | float64 -}}
{{- if gt $timeout $interval -}}
{{- fail (printf "%s.scrapeTimeout (%s) must not exceed %s.interval (%s): Prometheus refuses such a scrape" $path $m.scrapeTimeout $path $m.interval) -}}
{{- end -}}
{{- end -}}

{{/*
Labels of a monitoring object as YAML: the chart's labels, then the component's, then the user's extra labels
(never duplicating a key; earlier ones win). Argument: (list root (dict of fixed labels) (dict of extra labels)).
*/}}
{{- define "ghostwire.monitoring.labels" -}}
{{- $root := index . 0 -}}
{{- $fixed := merge (deepCopy (index . 1)) (include "ghostwire.labels" $root | fromYaml) -}}
{{- toYaml (merge $fixed (deepCopy (default dict (index . 2)))) -}}
{{- end -}}
