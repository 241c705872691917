package v1alpha1

// ClientKey names the holder of client keys and limits what they may do.
// The keys stay in spec.proxy.clientKeysSecretRef's Secret: secretKey is the
// data key of that Secret holding them (one key per line), so the
// CascadeRoute carries names and limits, never a key.
type ClientKey struct {
	// name identifies the key in metrics, logs and status.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// team the key belongs to: a label in metrics, and the budget of the
	// spec.teams entry of that name.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Team string `json:"team,omitempty"`

	// secretKey is the data key, in the client-keys Secret, holding this
	// key holder's keys.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-_a-zA-Z0-9][-._a-zA-Z0-9]*$`
	SecretKey string `json:"secretKey"`

	// budget caps the key's spend per period.
	// +optional
	Budget *Budget `json:"budget,omitempty"`

	// requestsPerMinute caps the key's requests, across every proxy replica.
	// +optional
	// +kubebuilder:validation:Minimum=1
	RequestsPerMinute int32 `json:"requestsPerMinute,omitempty"`

	// tokensPerMinute caps the key's input and output tokens, across every
	// proxy replica.
	// +optional
	// +kubebuilder:validation:Minimum=1
	TokensPerMinute int32 `json:"tokensPerMinute,omitempty"`

	// models the key may request: requested model names or rule names.
	// Empty: any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	Models []string `json:"models,omitempty"`
}

// Team is a team of client keys with a shared budget.
type Team struct {
	// name of the team, as client keys' team fields name it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// budget caps the spend of all the team's keys together.
	// +optional
	Budget *Budget `json:"budget,omitempty"`
}

// Budget is a spend limit in USD over a calendar period (UTC).
type Budget struct {
	// usd is the spend limit, in US dollars, as priced by the proxy.
	// +required
	// +kubebuilder:validation:XValidation:rule="self > 0.0",message="a budget must be positive"
	USD float64 `json:"usd"`

	// period the budget resets on: day, week (from Monday) or month, in UTC.
	// +optional
	// +kubebuilder:default=month
	// +kubebuilder:validation:Enum=day;week;month
	Period string `json:"period,omitempty"`

	// enforcement: hard refuses requests once the budget is spent; soft only
	// alerts (a metric and a log line on each proxy pod).
	// +optional
	// +kubebuilder:default=hard
	// +kubebuilder:validation:Enum=hard;soft
	Enforcement string `json:"enforcement,omitempty"`
}

// LimitsSpec says where the proxy replicas count client keys' budgets and
// rate limits together.
type LimitsSpec struct {
	// redis is the shared counter store. Without it the manager's default
	// (the chart's limitsRedis, --limits-redis) is used when it has one;
	// with neither, each replica counts on its own, which holds the limits
	// only with one replica.
	// +optional
	Redis *RedisSpec `json:"redis,omitempty"`

	// failPolicy: while Redis is unreachable, open keeps serving (each
	// replica counts locally and replays its counts when Redis is back);
	// closed refuses requests of limited keys with 503.
	// +optional
	// +kubebuilder:default=open
	// +kubebuilder:validation:Enum=open;closed
	FailPolicy string `json:"failPolicy,omitempty"`
}

// RedisSpec is a Redis the proxy replicas share.
type RedisSpec struct {
	// address is host:port of the Redis server (a Service, or a managed Redis).
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s/]+:[0-9]{1,5}$`
	Address string `json:"address"`

	// username for Redis ACLs.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Username string `json:"username,omitempty"`

	// passwordSecretRef names the Secret key holding the Redis password.
	// +optional
	PasswordSecretRef *SecretKeyRef `json:"passwordSecretRef,omitempty"`

	// tls connects over TLS, verifying the server with the system roots or
	// caSecretRef.
	// +optional
	TLS bool `json:"tls,omitempty"`

	// caSecretRef names a Secret key holding the PEM CA bundle that signs
	// Redis's certificate (implies tls).
	// +optional
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`
}
