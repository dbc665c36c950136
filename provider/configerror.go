package provider

// ConfigError is a configuration that cannot work, found before anything
// was sent anywhere. The provider packages (entra, google) return it.
type ConfigError struct {
	// Package names the package whose configuration is at fault: "entra",
	// "google".
	Package string
	// Field is the configuration field at fault, e.g. "TenantID".
	Field string
	// Reason says what is wrong and how to set it right.
	Reason string
}

func (e *ConfigError) Error() string {
	return e.Package + ": config: " + e.Field + ": " + e.Reason
}
