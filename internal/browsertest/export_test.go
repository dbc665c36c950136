package browsertest

// Dir returns the folder that holds b's profile, home and ChromeDriver's
// files, for the test that checks that cleanup leaves nothing behind.
func Dir(b *Browser) string { return b.dir }
