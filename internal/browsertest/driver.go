package browsertest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// driver is one ChromeDriver process listening on a loopback port.
type driver struct {
	cmd  *exec.Cmd
	addr string        // http://127.0.0.1:PORT
	out  string        // its standard output and error
	log  string        // its log (--log-path)
	done chan struct{} // closed when the process has been waited for
	err  error         // the process's exit, once done is closed
}

// startedRE matches the line ChromeDriver prints once it listens; with
// --port=0 it is the only way to learn the port it chose.
var startedRE = regexp.MustCompile(`started successfully on port (\d+)`)

// startDriver starts ChromeDriver with its files in dir and the environment
// env, and waits until it listens.
func startDriver(path, dir string, env []string) (*driver, error) {
	d := &driver{
		out:  filepath.Join(dir, "chromedriver.out"),
		log:  filepath.Join(dir, "chromedriver.log"),
		done: make(chan struct{}),
	}
	out, err := os.Create(d.out)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	d.cmd = exec.Command(path, "--port=0", "--log-path="+d.log)
	d.cmd.Env = env
	// A file, not a pipe: nothing to copy, so Wait cannot hang on a
	// browser process that inherited the descriptor.
	d.cmd.Stdout, d.cmd.Stderr = out, out
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		text, _ := os.ReadFile(d.out)
		if m := startedRE.FindSubmatch(text); m != nil {
			d.addr = "http://127.0.0.1:" + string(m[1])
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("chromedriver exited before listening (%v): %s", d.err, bytes.TrimSpace(text))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("chromedriver did not listen within 20s: %s", bytes.TrimSpace(text))
		}
	}
}

// stop asks ChromeDriver to shut down (it quits any browser it still runs),
// kills it if it has not exited within ten seconds, and waits for it. It
// returns an error only when a listening ChromeDriver had to be killed.
func (d *driver) stop() error {
	if d.addr != "" {
		c := &http.Client{Timeout: 5 * time.Second}
		if resp, err := c.Get(d.addr + "/shutdown"); err == nil {
			resp.Body.Close()
		}
		select {
		case <-d.done:
			return nil
		case <-time.After(10 * time.Second):
		}
	}
	killErr := d.cmd.Process.Kill()
	<-d.done
	if d.addr == "" {
		return nil // it never listened; the caller reports that
	}
	return errors.Join(errors.New("chromedriver did not exit after /shutdown; killed"), killErr)
}
