package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultGroups are the deployed function groups, each a package under
// functions/ whose init registers its functions.
var DefaultGroups = []string{"connectors", "probe", "connect", "token", "proxy", "files", "mcp", "console", "maintenance"}

// Target platform of Cloud Functions: package selection (build constraints)
// follows it, whatever machine stages.
const (
	targetGOOS   = "linux"
	targetGOARCH = "amd64"
)

// Module paths the staged sources and the checks refer to.
const (
	frameworkFunctions = "github.com/GoogleCloudPlatform/functions-framework-go/functions"
	platformSuffix     = "/shared/platform"
)

// RootFile is the generated root package file of every staged tree.
const RootFile = "function.go"

// ManifestFile is written at the top of the output directory.
const ManifestFile = "manifest.json"

// zipTime is the modification time of every archive entry (the earliest an
// archive can record), so archives depend on content only.
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

var groupNameRe = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// Manifest describes the staged groups; Terraform reads it.
type Manifest struct {
	Module string            `json:"module"`
	Groups map[string]*Group `json:"groups"`
}

// Group is one staged function group.
type Group struct {
	// Package is the import path of the group's package.
	Package string `json:"package"`
	// Functions are the names the package registers, sorted: each is a
	// deployed function's name and entry point.
	Functions []string `json:"functions"`
	// Packages are the module packages staged with it, sorted.
	Packages []string `json:"packages"`
	// Zip is the archive's file name in the output directory.
	Zip string `json:"zip"`
	// SHA256 is the archive's hash (hex).
	SHA256 string `json:"sha256"`
	// Object is the storage object name Terraform uploads the archive as.
	Object string `json:"object"`
}

// GroupNames returns the staged group names, sorted.
func (m *Manifest) GroupNames() []string {
	names := make([]string, 0, len(m.Groups))
	for n := range m.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// module is what `go list -m` says about the main module.
type module struct {
	Path  string
	Dir   string
	GoMod string
}

// listedPackage is what `go list -deps -json` says about one package.
type listedPackage struct {
	ImportPath     string
	Name           string
	Dir            string
	Standard       bool
	Module         *struct{ Path string }
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string
	EmbedFiles     []string
	Error          *struct{ Err string }
	DepsErrors     []*struct{ Err string }
}

// Stage stages groups of the module containing dir into out (default
// <module root>/.stage) and returns the manifest it wrote there.
func Stage(dir, out string, groups []string) (*Manifest, error) {
	mod, err := mainModule(dir)
	if err != nil {
		return nil, err
	}
	if out == "" {
		out = filepath.Join(mod.Dir, ".stage")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	m := &Manifest{Module: mod.Path, Groups: map[string]*Group{}}
	for _, name := range groups {
		name = strings.TrimSpace(name)
		if !groupNameRe.MatchString(name) {
			return nil, fmt.Errorf("group %q: want one kebab-case word (a package under functions/)", name)
		}
		if _, dup := m.Groups[name]; dup {
			return nil, fmt.Errorf("group %q listed twice", name)
		}
		g, err := stageGroup(mod, out, name)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", name, err)
		}
		m.Groups[name] = g
	}
	if err := checkDistinctFunctions(m); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

func checkDistinctFunctions(m *Manifest) error {
	owner := map[string]string{}
	for _, g := range m.GroupNames() {
		for _, f := range m.Groups[g].Functions {
			if o, ok := owner[f]; ok {
				return fmt.Errorf("function %s is registered by both %s and %s", f, o, g)
			}
			owner[f] = g
		}
	}
	return nil
}

func mainModule(dir string) (module, error) {
	b, err := goCmd(dir, "list", "-m", "-json")
	if err != nil {
		return module{}, err
	}
	var m module
	if err := json.Unmarshal(b, &m); err != nil {
		return module{}, fmt.Errorf("go list -m: %w", err)
	}
	if m.Path == "" || m.Dir == "" || m.GoMod == "" {
		return module{}, errors.New("not inside a Go module")
	}
	if first, _, _ := strings.Cut(m.Path, "/"); !strings.Contains(first, ".") {
		// The buildpack refuses such modules: it replaces the module path
		// in a generated go.mod, which needs a dot in the first element.
		return module{}, fmt.Errorf("module path %q needs a dot in its first element for the Go buildpack", m.Path)
	}
	return m, nil
}

// goCmd runs the go command for the target platform and returns stdout.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS="+targetGOOS, "GOARCH="+targetGOARCH, "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return b, nil
}

// file is one entry of a staged tree: its slash-separated path in the tree,
// and where its content comes from.
type file struct {
	rel  string
	src  string // copied from here, or
	data []byte // this content
}

func stageGroup(mod module, out, name string) (*Group, error) {
	pkgPath := mod.Path + "/functions/" + name
	if _, err := os.Stat(filepath.Join(mod.Dir, "functions", name)); err != nil {
		return nil, fmt.Errorf("package %s: %w", pkgPath, err)
	}
	b, err := goCmd(mod.Dir, "list", "-deps", "-json", "./functions/"+name)
	if err != nil {
		return nil, err
	}
	var (
		files     = []file{{rel: "go.mod", src: mod.GoMod}}
		packages  []string
		group     *listedPackage
		framework bool
	)
	if sum := filepath.Join(mod.Dir, "go.sum"); fileExists(sum) {
		files = append(files, file{rel: "go.sum", src: sum})
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -deps: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("package %s: %s", p.ImportPath, p.Error.Err)
		}
		for _, e := range p.DepsErrors {
			return nil, fmt.Errorf("package %s: %s", p.ImportPath, e.Err)
		}
		if p.ImportPath == frameworkFunctions {
			framework = true
		}
		if p.Standard || p.Module == nil || p.Module.Path != mod.Path {
			continue
		}
		rel, err := filepath.Rel(mod.Dir, p.Dir)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("package %s: directory %s is not below the module root (the root is generated)", p.ImportPath, p.Dir)
		}
		packages = append(packages, p.ImportPath)
		if p.ImportPath == pkgPath {
			pc := p
			group = &pc
		}
		var names []string
		names = append(names, p.GoFiles...)
		names = append(names, p.CgoFiles...)
		for _, f := range p.IgnoredGoFiles {
			// Files for other platforms keep the package complete.
			if !strings.HasSuffix(f, "_test.go") {
				names = append(names, f)
			}
		}
		names = append(names, p.EmbedFiles...)
		for _, n := range names {
			files = append(files, file{rel: path.Join(filepath.ToSlash(rel), filepath.ToSlash(n)), src: filepath.Join(p.Dir, n)})
		}
	}
	if group == nil {
		return nil, fmt.Errorf("go list did not report %s", pkgPath)
	}
	if !framework {
		return nil, fmt.Errorf("%s does not depend on %s, so nothing registers its functions", pkgPath, frameworkFunctions)
	}
	functions, err := registeredFunctions(mod.Path, group)
	if err != nil {
		return nil, err
	}
	// The buildpack imports <module>/<package name> instead of the module
	// root when a directory of that name exists at the top of the source.
	rootName := rootPackageName(mod.Path)
	for _, f := range files {
		if strings.HasPrefix(f.rel, rootName+"/") {
			return nil, fmt.Errorf("the root package name %q is also a top-level directory of the staged tree; the buildpack would import that directory", rootName)
		}
	}
	files = append(files, file{rel: RootFile, data: rootFile(mod.Path, name, pkgPath)})
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	for i := 1; i < len(files); i++ {
		if files[i].rel == files[i-1].rel {
			return nil, fmt.Errorf("%s staged twice", files[i].rel)
		}
	}
	sort.Strings(packages)

	tree := filepath.Join(out, name)
	if err := os.RemoveAll(tree); err != nil {
		return nil, err
	}
	var archive bytes.Buffer
	zw := zip.NewWriter(&archive)
	dirs := map[string]bool{}
	for _, f := range files {
		data := f.data
		if data == nil {
			if data, err = os.ReadFile(f.src); err != nil {
				return nil, err
			}
		}
		if err := addDirs(zw, dirs, path.Dir(f.rel)); err != nil {
			return nil, err
		}
		h := &zip.FileHeader{Name: f.rel, Method: zip.Deflate, Modified: zipTime}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		dst := filepath.Join(tree, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(archive.Bytes())
	hexSum := hex.EncodeToString(sum[:])
	zipName := name + ".zip"
	if err := os.WriteFile(filepath.Join(out, zipName), archive.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return &Group{
		Package:   pkgPath,
		Functions: functions,
		Packages:  packages,
		Zip:       zipName,
		SHA256:    hexSum,
		Object:    name + "-" + hexSum + ".zip",
	}, nil
}

// addDirs adds directory entries for dir and its parents, once each, so
// that every unzip tool recreates the tree.
func addDirs(zw *zip.Writer, seen map[string]bool, dir string) error {
	if dir == "." || dir == "" || seen[dir] {
		return nil
	}
	if err := addDirs(zw, seen, path.Dir(dir)); err != nil {
		return err
	}
	seen[dir] = true
	h := &zip.FileHeader{Name: dir + "/", Method: zip.Store, Modified: zipTime}
	h.SetMode(os.ModeDir | 0o755)
	_, err := zw.CreateHeader(h)
	return err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// rootPackageName is the package name of the generated root file: the last
// element of the module path when it is an identifier.
func rootPackageName(modPath string) string {
	name := path.Base(modPath)
	if token.IsIdentifier(name) && !token.IsKeyword(name) && name != "main" {
		return name
	}
	return "function"
}

func rootFile(modPath, group, pkgPath string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `// Code generated by scripts/stage. DO NOT EDIT.

// Package %[1]s is the root package of the staged source of the %[2]q
// function group. The Cloud Functions Go buildpack builds the module's root
// package: importing the group's package runs its init, which registers the
// group's functions with the Functions Framework, and importing the
// framework's functions package selects the buildpack's declarative
// (functions.HTTP) template, which serves the function named by the entry
// point.
package %[1]s

import (
	_ %[3]q

	_ %[4]q
)
`, rootPackageName(modPath), group, frameworkFunctions, pkgPath)
	return b.Bytes()
}

// registeredFunctions finds the names the group's package registers, in
// calls platform.Register([]string{...}, ...) and functions.HTTP(name, ...)
// in its non-test files. Names are string literals or package-level string
// constants.
func registeredFunctions(modPath string, p *listedPackage) ([]string, error) {
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, n), nil, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	consts := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if v, err := strconv.Unquote(lit.Value); err == nil {
								consts[id.Name] = v
							}
						}
					}
				}
			}
		}
	}
	resolve := func(e ast.Expr) (string, error) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				return strconv.Unquote(e.Value)
			}
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return v, nil
			}
		}
		return "", fmt.Errorf("%s: a function name must be a string literal or a package-level string constant", fset.Position(e.Pos()))
	}
	var names []string
	var errs []error
	for _, f := range files {
		imports := map[string]string{} // local name -> import path
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			local := path.Base(ip)
			if im.Name != nil {
				local = im.Name.Name
			}
			imports[local] = ip
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch ip := imports[x.Name]; {
			case (ip == modPath+platformSuffix || strings.HasPrefix(ip, modPath+platformSuffix+"/")) && sel.Sel.Name == "Register":
				lit, ok := call.Args[0].(*ast.CompositeLit)
				if !ok {
					errs = append(errs, fmt.Errorf("%s: platform.Register needs a literal []string{...} of names", fset.Position(call.Pos())))
					return true
				}
				for _, e := range lit.Elts {
					v, err := resolve(e)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					names = append(names, v)
				}
			case ip == frameworkFunctions && sel.Sel.Name == "HTTP":
				v, err := resolve(call.Args[0])
				if err != nil {
					errs = append(errs, err)
					return true
				}
				names = append(names, v)
			}
			return true
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s registers no function (no platform.Register or functions.HTTP call)", p.ImportPath)
	}
	sort.Strings(names)
	for i, n := range names {
		if !groupNameRe.MatchString(n) {
			return nil, fmt.Errorf("function name %q: want one kebab-case word", n)
		}
		if i > 0 && names[i-1] == n {
			return nil, fmt.Errorf("function %s registered twice", n)
		}
	}
	return names, nil
}
