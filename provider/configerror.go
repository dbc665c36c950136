package provider

// ConfigError is a configuration that cannot work, found before anything
// was sent anywhere. The provider packages (entra, google) return it.
// Diagnose explains it as Misconfigured with Reason as the Summary, so
// Reason is written for the operator: it names the setting as the operator
// knows it (the tenant ID, the key file), never a Go field.
type ConfigError struct {
	// Package names the package whose configuration is at fault: "entra",
	// "google".
	Package string
	// Field is the configuration field at fault, e.g. "TenantID", for the
	// program's author; a Diagnosis never shows it.
	Field string
	// Reason says what is wrong and how to set it right.
	Reason string
}

// Error names the package, the field and the reason.
func (e *ConfigError) Error() string {
	return e.Package + ": config: " + e.Field + ": " + e.Reason
}
