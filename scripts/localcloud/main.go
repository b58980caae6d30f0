// Command localcloud serves loopback stand-ins for the clouds the local run
// talks to, so that token and files can be tried by hand end to end
// without a cloud account: fake-gcs-server and gofakes3 as the storage
// behind files, and STS and Google's OAuth token endpoint
// (shared/mint/cloudtest) as the providers of aws_iam and
// gcs_service_account connectors, both of which verify the signatures the
// minters make. It prints, ready to paste, the environment for the local
// run and the commands that create the connectors and call token and
// files; it logs one line per STS or token request to stderr with what
// was verified; it stops its servers on SIGINT or SIGTERM.
//
//	go run ./scripts/localcloud [-gcs-bucket local-gcs] [-s3-bucket local-s3] [-dir DIR] [-local-run URL]
//
// Every key it makes is a throwaway accepted only by this process.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/objects/objectservers"
)

// The service account the Google stand-in issues tokens to.
const (
	saEmail   = "localcloud@local-project.iam.gserviceaccount.com"
	saProject = "local-project"
	// saKeyFile is the key's name in the -dir directory.
	saKeyFile = "sa-key.json"
)

// Names the printed commands use.
const (
	agent        = "demo"
	s3Connector  = "S3Demo"
	gcsConnector = "GcsDemo"
	demoObject   = "demo/hello.txt"
	demoContent  = "hello from the local run\n"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		stop()
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "localcloud:", err)
		stop()
		os.Exit(1)
	}
}

// errUsage is a command line the flag package already reported.
var errUsage = errors.New("usage")

type options struct {
	gcsBucket, s3Bucket string
	// dir receives the service account's key; empty means a new temporary
	// directory, removed on exit.
	dir string
	// localRun is the local run's base URL, for the printed commands.
	localRun string
}

// bucketRE is a bucket name both GCS and S3 accept, and that needs no
// quoting in the printed commands.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("localcloud", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.gcsBucket, "gcs-bucket", "local-gcs", "bucket the GCS server starts with")
	fs.StringVar(&o.s3Bucket, "s3-bucket", "local-s3", "bucket the S3 server starts with")
	fs.StringVar(&o.dir, "dir", "", "directory for the service account's key (default: a new temporary directory, removed on exit)")
	fs.StringVar(&o.localRun, "local-run", "http://127.0.0.1:8080", "the local run's base URL, for the printed commands")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./scripts/localcloud [flags]\n\n"+
			"Serves GCS, S3, STS and Google token stand-ins on loopback and prints how to\n"+
			"point the local run (go run ./functions/devserver) at them.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "localcloud: unexpected arguments %q\n", fs.Args())
		return o, errUsage
	}
	for _, b := range []string{o.gcsBucket, o.s3Bucket} {
		if !bucketRE.MatchString(b) {
			return o, fmt.Errorf("bucket name %q: want 3-63 lower-case letters, digits and hyphens", b)
		}
	}
	if u, err := url.Parse(o.localRun); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("-local-run %q is not an http(s) URL", o.localRun)
	}
	o.localRun = strings.TrimSuffix(o.localRun, "/")
	return o, nil
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "localcloud: ", log.LstdFlags|log.Lmsgprefix)
	c, err := start(opts, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	// One write, so that a reader sees the whole guide at once.
	var guide bytes.Buffer
	writeGuide(&guide, c)
	if _, err := stdout.Write(guide.Bytes()); err != nil {
		return fmt.Errorf("print the commands: %w", err)
	}
	logger.Print("serving until interrupted")
	<-ctx.Done()
	logger.Print("stopping")
	return nil
}

// cloud is the running stand-ins and the throwaway keys they accept.
type cloud struct {
	opts options

	gcs *objectservers.GCS
	s3  *objectservers.S3
	// stsURL is the STS stand-in's endpoint, the aws_iam connector's url;
	// tokenURI is the Google stand-in's, the key's token_uri.
	stsURL, tokenURI string
	// connKeyID and connSecret are the long-lived pair the STS stand-in
	// knows: the aws_iam connector's.
	connKeyID, connSecret string
	// defaultKeyID and defaultSecret are for the local run's own AWS
	// chain (files without a connector). gofakes3 checks no signature and
	// STS does not know them; a pair distinct from the connector's shows
	// in the S3 server which credentials a request carried.
	defaultKeyID, defaultSecret string
	// saKeyPath is the service account's JSON key, the gcs_service_account
	// connector's secret.
	saKeyPath string

	dir       string
	removeDir bool
	closers   []func()
}

// start serves every stand-in on a free 127.0.0.1 port; on error nothing
// is left running.
func start(opts options, logger *log.Logger) (_ *cloud, err error) {
	c := &cloud{opts: opts}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.dir = opts.dir; c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "localcloud-"); err != nil {
			return nil, fmt.Errorf("make a directory for the key: %w", err)
		}
		c.removeDir = true
	} else if err = os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("make the key's directory: %w", err)
	}

	if c.gcs, err = objectservers.StartGCS(opts.gcsBucket); err != nil {
		return nil, fmt.Errorf("start the GCS server: %w", err)
	}
	c.closers = append(c.closers, c.gcs.Close)
	if c.s3, err = objectservers.StartS3(opts.s3Bucket); err != nil {
		return nil, fmt.Errorf("start the S3 server: %w", err)
	}
	c.closers = append(c.closers, c.s3.Close)

	c.connKeyID, c.connSecret = cloudtest.NewAccessKey()
	c.defaultKeyID, c.defaultSecret = cloudtest.NewAccessKey()
	stsLn, err := listen()
	if err != nil {
		return nil, fmt.Errorf("start the STS stand-in: %w", err)
	}
	c.stsURL = "http://" + stsLn.Addr().String()
	c.serve(stsLn, &cloudtest.STS{
		KeyID:     c.connKeyID,
		SecretKey: c.connSecret,
		Log:       func(msg string) { logger.Print("sts: " + msg) },
	})

	tokenLn, err := listen()
	if err != nil {
		return nil, fmt.Errorf("start the Google token stand-in: %w", err)
	}
	c.tokenURI = "http://" + tokenLn.Addr().String() + "/token"
	key, pub, err := cloudtest.NewServiceAccountKey(saEmail, saProject, c.tokenURI)
	if err != nil {
		_ = tokenLn.Close()
		return nil, err
	}
	var k struct {
		PrivateKeyID string `json:"private_key_id"`
	}
	if err := json.Unmarshal(key, &k); err != nil {
		_ = tokenLn.Close()
		return nil, fmt.Errorf("read the new key's ID: %w", err)
	}
	c.serve(tokenLn, &cloudtest.GoogleToken{
		PublicKey:   pub,
		ClientEmail: saEmail,
		TokenURI:    c.tokenURI,
		KeyID:       k.PrivateKeyID,
		Log:         func(msg string) { logger.Print("google-token: " + msg) },
	})
	c.saKeyPath = filepath.Join(c.dir, saKeyFile)
	if err := writePrivate(c.saKeyPath, key); err != nil {
		return nil, err
	}
	return c, nil
}

func listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	return ln, nil
}

// serve serves h on ln until Close.
func (c *cloud) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // ErrServerClosed after Shutdown
	}()
	c.closers = append(c.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	})
}

// writePrivate writes the key readable by its owner only, whatever mode a
// file already there had.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write the service account key: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("write the service account key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write the service account key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the service account key: %w", err)
	}
	return nil
}

// Close stops every server, in reverse order of starting, and removes a
// temporary directory.
func (c *cloud) Close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.closers = nil
	if c.removeDir {
		_ = os.RemoveAll(c.dir)
		c.removeDir = false
	}
}

// env is the local run's environment, in the order printed.
func (c *cloud) env() [][2]string {
	return [][2]string{
		{"CONNECTORS_GCS_ENDPOINT", c.gcs.URL},
		{"CONNECTORS_S3_ENDPOINT", c.s3.URL},
		// The local run's own identity is lent to no agent unless mapped:
		// the demo agent gets its folder in each bucket.
		{"CONNECTORS_FILES_DEFAULT_ACCESS", fmt.Sprintf("%s=%s/%s|%s/%s", agent, c.gsBucket(), agent, c.s3Bucket(), agent)},
		{"AWS_ACCESS_KEY_ID", c.defaultKeyID},
		{"AWS_SECRET_ACCESS_KEY", c.defaultSecret},
		{"AWS_REGION", cloudtest.DefaultRegion},
	}
}

// call is one request to a function, printed as a curl command.
type call struct {
	fn   string
	body any
}

type tokenRequest struct {
	Connector string `json:"connector"`
	Agent     string `json:"agent"`
}

type filesRequest struct {
	Op          string `json:"op"`
	URI         string `json:"uri"`
	Agent       string `json:"agent"`
	Connector   string `json:"connector,omitempty"`
	Data        string `json:"data,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

func (c call) curl(base string) string {
	body, err := json.Marshal(c.body)
	if err != nil {
		panic(err) // only the request structs above are marshalled
	}
	return fmt.Sprintf("curl -s %s -H 'Content-Type: application/json' -d %s", shellQuote(base+"/"+c.fn), shellQuote(string(body)))
}

// tokenCalls mint from each connector.
func tokenCalls() []call {
	return []call{
		{"token", tokenRequest{Connector: s3Connector, Agent: agent}},
		{"token", tokenRequest{Connector: gcsConnector, Agent: agent}},
	}
}

// roundTrip writes, reads, lists and deletes demoObject in bucketURI
// (gs://B or s3://B), with connector's credentials or, when it is empty,
// the local run's defaults.
func roundTrip(bucketURI, connector string) []call {
	obj := bucketURI + "/" + demoObject
	dir := bucketURI + "/" + strings.TrimSuffix(demoObject, filepath.Base(demoObject))
	data := base64.StdEncoding.EncodeToString([]byte(demoContent))
	return []call{
		{"files", filesRequest{Op: "write", URI: obj, Agent: agent, Connector: connector, Data: data, ContentType: "text/plain"}},
		{"files", filesRequest{Op: "read", URI: obj, Agent: agent, Connector: connector}},
		{"files", filesRequest{Op: "list", URI: dir, Agent: agent, Connector: connector}},
		{"files", filesRequest{Op: "delete", URI: obj, Agent: agent, Connector: connector}},
	}
}

func (c *cloud) gsBucket() string { return "gs://" + c.opts.gcsBucket }
func (c *cloud) s3Bucket() string { return "s3://" + c.opts.s3Bucket }

// writeGuide prints what to paste, in order. It takes a buffer, whose
// writes cannot fail, and run prints that in one write.
func writeGuide(w *bytes.Buffer, c *cloud) {
	base := c.opts.localRun
	connectors := "scripts/connectors --url " + shellQuote(base)
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("# localcloud is serving on loopback until Ctrl-C; every key below is a throwaway")
	p("# accepted by nothing but this process.")
	p("#   GCS (fake-gcs-server)  %s  bucket %s", c.gcs.URL, c.opts.gcsBucket)
	p("#   S3 (gofakes3)          %s  bucket %s", c.s3.URL, c.opts.s3Bucket)
	p("#   STS stand-in           %s  verifies SigV4 with the key pair %s", c.stsURL, c.connKeyID)
	p("#   Google token stand-in  %s  verifies JWTs signed with %s", c.tokenURI, c.saKeyPath)
	p("")
	p("# 1. Start the local run with these (from the repository's root). The AWS pair is the")
	p("#    local run's own, for files without a connector, which only the %s agent may use", agent)
	p("#    and only in its folders (CONNECTORS_FILES_DEFAULT_ACCESS); STS does not know it.")
	for _, kv := range c.env()[:3] {
		p("export %s=%s", kv[0], shellQuote(kv[1]))
	}
	var aws []string
	for _, kv := range c.env()[3:] {
		aws = append(aws, kv[0]+"="+shellQuote(kv[1]))
	}
	p("export %s", strings.Join(aws, " "))
	p("go run ./functions/devserver")
	p("")
	p("# 2. In another shell, create the connectors. --client-secret - reads the secret")
	p("#    access key from standard input; paste the STS stand-in's throwaway secret:")
	p("#      %s", c.connSecret)
	p("%s create --name %s --grant-type aws_iam --url %s --client-id %s --client-secret - --agents %s",
		connectors, s3Connector, shellQuote(c.stsURL), c.connKeyID, agent)
	p("%s create --name %s --grant-type gcs_service_account --client-secret-file %s --agents %s",
		connectors, gcsConnector, shellQuote(c.saKeyPath), agent)
	p("")
	p("# 3. Mint: temporary AWS credentials from STS (an ASIA key, never %s),", c.connKeyID)
	p("#    then a Google bearer token. Each STS and token request is logged here.")
	for _, t := range tokenCalls() {
		p("%s", t.curl(base))
	}
	p("")
	p("# 4. files: write, read (prints the object), list and delete, with each connector's")
	p("#    minted credentials. Without \"connector\" the local run's defaults are used,")
	p("#    where CONNECTORS_FILES_DEFAULT_ACCESS maps the agent (else 403): no credentials")
	p("#    for the GCS emulator, the AWS pair above for S3.")
	for _, b := range []struct{ bucket, connector string }{{c.gsBucket(), gcsConnector}, {c.s3Bucket(), s3Connector}} {
		for _, f := range roundTrip(b.bucket, b.connector) {
			p("%s", f.curl(base))
		}
	}
	p("")
	p("# Restarting localcloud changes its ports and keys: delete and create the connectors again.")
}

// safeRE is what a shell word may hold unquoted.
var safeRE = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

func shellQuote(s string) string {
	if safeRE.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
