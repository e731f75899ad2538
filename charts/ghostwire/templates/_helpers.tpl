{{/* Names ------------------------------------------------------------------------------------------------ */}}

{{- define "ghostwire.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ghostwire.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ghostwire.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Service name the API server calls; also the base of the certificate's DNS names. */}}
{{- define "ghostwire.serviceName" -}}
{{- include "ghostwire.fullname" . -}}
{{- end -}}

{{- define "ghostwire.defaultsConfigMap" -}}
{{- printf "%s-defaults" (include "ghostwire.fullname" .) -}}
{{- end -}}

{{/* Secret holding tls.crt / tls.key (and ca.crt) of the webhook. */}}
{{- define "ghostwire.tlsSecret" -}}
{{- if eq .Values.certs.mode "existingSecret" -}}
{{- .Values.certs.existingSecret -}}
{{- else -}}
{{- printf "%s-tls" (include "ghostwire.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "ghostwire.tunnelKeySecret" -}}
{{- default (printf "%s-tunnel-key" (include "ghostwire.fullname" .)) .Values.tunnelKey.existingSecret -}}
{{- end -}}

{{- define "ghostwire.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ghostwire.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ghostwire.shadowName" -}}
{{- printf "%s-shadow" (include "ghostwire.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ghostwire.shadowServiceAccountName" -}}
{{- if .Values.shadow.serviceAccount.create -}}
{{- default (include "ghostwire.shadowName" .) .Values.shadow.serviceAccount.name -}}
{{- else -}}
{{- required "shadow.serviceAccount.name is required when shadow.serviceAccount.create is false" .Values.shadow.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image: repository[:tag|@digest]; the tag defaults to appVersion. */}}
{{- define "ghostwire.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Labels ----------------------------------------------------------------------------------------------- */}}

{{- define "ghostwire.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ghostwire.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ghostwire.labels" -}}
helm.sh/chart: {{ include "ghostwire.chart" . }}
{{ include "ghostwire.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ghostwire
{{- end -}}

{{/*
Label on ghostwire's own Deployments and pods (it exempts nothing: the webhook never sees them because the release
namespace is excluded by the namespaceSelector).
*/}}
{{- define "ghostwire.componentLabelKey" -}}ghostwire.dev/component{{- end -}}

{{/* Security -------------------------------------------------------------------------------------------- */}}

{{- define "ghostwire.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ghostwire.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Namespaces the webhook never sees: the system ones, the release namespace, and webhook.excludeNamespaces. */}}
{{- define "ghostwire.excludedNamespaces" -}}
{{- $out := list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace -}}
{{- range .Values.webhook.excludeNamespaces -}}
{{- $out = append $out . -}}
{{- end -}}
{{- toJson (uniq $out) -}}
{{- end -}}

{{/*
The namespaces that opted in: the names in injectedNamespaces, as a JSON list. Every per-namespace grant of the
chart (the injected pods' Role, the webhook's Events, the shadow controller) is rendered there and nowhere else. A
namespace the webhook never injects (system, release, webhook.excludeNamespaces) fails the render.
*/}}
{{- define "ghostwire.optedInNamespaces" -}}
{{- $excluded := include "ghostwire.excludedNamespaces" . | fromJsonArray -}}
{{- $out := list -}}
{{- range .Values.injectedNamespaces -}}
{{- $ns := "" -}}
{{- if kindIs "string" . }}{{ $ns = . }}{{ else }}{{ $ns = .name }}{{ end -}}
{{- if has $ns $excluded -}}
{{- fail (printf "injectedNamespaces: %q is never injected (kube-system, kube-public, kube-node-lease, the release namespace and webhook.excludeNamespaces are excluded); remove it" $ns) -}}
{{- end -}}
{{- $out = append $out $ns -}}
{{- end -}}
{{- toJson (uniq $out) -}}
{{- end -}}

{{/* The defaults document: .Values.defaults, with `image` defaulting to the chart's image. */}}
{{- define "ghostwire.defaultsDocument" -}}
{{- $doc := deepCopy (default dict .Values.defaults) -}}
{{- if not (hasKey $doc "image") -}}
{{- $_ := set $doc "image" (include "ghostwire.image" .) -}}
{{- end -}}
{{- toYaml $doc -}}
{{- end -}}

{{/* Certificates (certs.mode=helm) ---------------------------------------------------------------------- */}}

{{/*
Returns (as YAML) the webhook's TLS material: caCrt, caKey, tlsCrt, tlsKey (base64, as stored in the Secret),
caBundle (base64 PEM for the webhook configuration), source, and the two trigger values to record on the Secret.
Called ONCE per render (templates/webhook.yaml renders both the Secret and the webhook configuration from the same
result), because every genCA call makes a new CA.

  * Secret exists, no trigger changed: everything is reused; caBundle = its ca.crt.
  * certs.helm.servingCertRenewal differs from the value recorded on the Secret: a new serving certificate signed
    by the kept CA (ca.key); caBundle unchanged.
  * Secret absent, or certs.helm.caRotation differs from the recorded value (or a renewal without ca.key): a new
    CA and certificate; when a CA is replaced the caBundle also carries the old one until the next upgrade, so
    replicas that have not reloaded the new certificate yet keep being trusted.
The triggers are compared with the values recorded on the Secret, so a value that stays in the release (helm
upgrade reuses the previous values when given none) acts once, not on every upgrade.

`lookup` returns nothing under `helm template`, `helm lint`, --dry-run and GitOps tools that render offline
(Argo CD): there, every render generates a new CA. Use certs.mode=certManager or existingSecret with those.
*/}}
{{- define "ghostwire.helmCerts" -}}
{{- $svc := include "ghostwire.serviceName" . -}}
{{- $ns := .Release.Namespace -}}
{{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- range .Values.certs.extraDNSNames -}}
{{- $dns = append $dns . -}}
{{- end -}}
{{- $dns = uniq $dns -}}
{{- $ips := .Values.certs.extraIPs -}}
{{- $cn := printf "%s.%s.svc" $svc $ns -}}
{{- $days := int .Values.certs.helm.certValidityDays -}}
{{- $existing := lookup "v1" "Secret" $ns (include "ghostwire.tlsSecret" .) -}}
{{- $data := dict -}}
{{- $recorded := dict -}}
{{- if $existing -}}
{{- $data = default dict $existing.data -}}
{{- $recorded = default dict $existing.metadata.annotations -}}
{{- end -}}
{{- $complete := false -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- $complete = true -}}
{{- end -}}
{{- $caRotation := toString .Values.certs.helm.caRotation -}}
{{- $renewal := toString .Values.certs.helm.servingCertRenewal -}}
{{- $rotate := false -}}
{{- if and $complete (ne $caRotation "") (ne $caRotation (toString (default "" (index $recorded "ghostwire.dev/ca-rotation")))) -}}
{{- $rotate = true -}}
{{- end -}}
{{- $renew := false -}}
{{- if and $complete (ne $renewal "") (ne $renewal (toString (default "" (index $recorded "ghostwire.dev/serving-cert-renewal")))) -}}
{{- $renew = true -}}
{{- end -}}
{{- $out := dict "caRotation" $caRotation "servingCertRenewal" $renewal -}}
{{- if and $complete (not $rotate) (not $renew) -}}
{{- $_ := set $out "caCrt" (index $data "ca.crt") -}}
{{- $_ := set $out "caKey" (default "" (index $data "ca.key")) -}}
{{- $_ := set $out "tlsCrt" (index $data "tls.crt") -}}
{{- $_ := set $out "tlsKey" (index $data "tls.key") -}}
{{- $_ := set $out "caBundle" (index $data "ca.crt") -}}
{{- $_ := set $out "source" "reused" -}}
{{- else if and $complete (not $rotate) (index $data "ca.key") -}}
{{- $ca := buildCustomCert (index $data "ca.crt") (index $data "ca.key") -}}
{{- $cert := genSignedCert $cn $ips $dns $days $ca -}}
{{- $_ := set $out "caCrt" (index $data "ca.crt") -}}
{{- $_ := set $out "caKey" (index $data "ca.key") -}}
{{- $_ := set $out "tlsCrt" ($cert.Cert | b64enc) -}}
{{- $_ := set $out "tlsKey" ($cert.Key | b64enc) -}}
{{- $_ := set $out "caBundle" (index $data "ca.crt") -}}
{{- $_ := set $out "source" "reissued" -}}
{{- else -}}
{{- $ca := genCA (printf "ghostwire-ca %s/%s" $ns $svc) (int .Values.certs.helm.caValidityDays) -}}
{{- $cert := genSignedCert $cn $ips $dns $days $ca -}}
{{- $bundle := $ca.Cert -}}
{{- if $complete -}}
{{- $bundle = printf "%s\n%s" (trimSuffix "\n" $ca.Cert) (index $data "ca.crt" | b64dec) -}}
{{- end -}}
{{- $_ := set $out "caCrt" ($ca.Cert | b64enc) -}}
{{- $_ := set $out "caKey" ($ca.Key | b64enc) -}}
{{- $_ := set $out "tlsCrt" ($cert.Cert | b64enc) -}}
{{- $_ := set $out "tlsKey" ($cert.Key | b64enc) -}}
{{- $_ := set $out "caBundle" ($bundle | b64enc) -}}
{{- $_ := set $out "source" (ternary "rotated" "generated" $complete) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Webhook entries ---------------------------------------------------------------------------------------- */}}

{{/* What both webhook entries share: the endpoint and its CA, the namespace scope, timeouts. (dict "root" . "caBundle" $b) */}}
{{- define "ghostwire.webhookEndpoint" -}}
{{- $v := .root.Values -}}
admissionReviewVersions: ["v1"]
sideEffects: NoneOnDryRun
reinvocationPolicy: {{ $v.webhook.reinvocationPolicy }}
timeoutSeconds: {{ $v.webhook.timeoutSeconds }}
matchPolicy: Equivalent
clientConfig:
  {{- if $v.webhook.url }}
  url: {{ $v.webhook.url | quote }}
  {{- else }}
  service:
    name: {{ include "ghostwire.serviceName" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: /mutate
    port: {{ $v.service.port }}
  {{- end }}
  {{- /* certManager: no caBundle at all, so the cainjector owns the field and upgrades never blank it. */}}
  {{- if .caBundle }}
  caBundle: {{ .caBundle | quote }}
  {{- end }}
namespaceSelector:
  {{- if $v.webhook.namespaceSelector.requireOptInLabel }}
  matchLabels:
    {{ $v.webhook.namespaceSelector.optInLabel.key }}: {{ $v.webhook.namespaceSelector.optInLabel.value | quote }}
  {{- end }}
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ include "ghostwire.excludedNamespaces" .root }}
{{- end -}}

{{/* CEL: owner reference `o` is one of the workload controllers whose Pods ghostwire injects through the owner. */}}
{{- define "ghostwire.podControllerKinds" -}}
((o.apiVersion == 'apps/v1' && o.kind in ['ReplicaSet', 'StatefulSet', 'DaemonSet']) || (o.apiVersion == 'batch/v1' && o.kind == 'Job'))
{{- end -}}

{{/* Policy mode: the scope of the admission policies, the same as the webhook's namespaceSelector. */}}
{{- define "ghostwire.policyNamespaceSelector" -}}
{{- if .Values.webhook.namespaceSelector.requireOptInLabel }}
matchLabels:
  {{ .Values.webhook.namespaceSelector.optInLabel.key }}: {{ .Values.webhook.namespaceSelector.optInLabel.value | quote }}
{{- end }}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ include "ghostwire.excludedNamespaces" . }}
{{- end -}}
