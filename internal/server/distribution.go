package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/image"
)

// progressStream writes docker's JSON progress messages. The 200 header goes out with the first message; an
// error before it is a plain error response, one after it an errorDetail message, as dockerd does.
type progressStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	fw      *flushWriter
	enc     *json.Encoder
	started bool
}

func newProgressStream(w http.ResponseWriter) *progressStream {
	return &progressStream{w: w}
}

func (p *progressStream) start() {
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
		p.fw = newFlushWriter(p.w)
		p.enc = json.NewEncoder(p.fw)
	}
}

// send is an image.ProgressFunc.
func (p *progressStream) send(pr image.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start()
	p.enc.Encode(progressMessage(pr))
}

// wireMessage is jsonstream.Message plus the rendered "progress" string dockerd also sends.
type wireMessage struct {
	Status   string               `json:"status,omitempty"`
	Progress *jsonstream.Progress `json:"progressDetail,omitempty"`
	Bar      string               `json:"progress,omitempty"`
	ID       string               `json:"id,omitempty"`
	Error    *jsonstream.Error    `json:"errorDetail,omitempty"`
	ErrorMsg string               `json:"error,omitempty"`
	Aux      any                  `json:"aux,omitempty"`
}

// pushAux is the aux message ending a push, which the docker CLI reads for `docker push`'s digest line.
type pushAux struct {
	Tag    string
	Digest string
	Size   int64
}

func progressMessage(pr image.Progress) wireMessage {
	m := wireMessage{Status: pr.Status, ID: pr.ID}
	if pr.Pushed != nil {
		m.Aux = pushAux{Tag: pr.Pushed.Tag, Digest: pr.Pushed.Digest.String(), Size: pr.Pushed.Size}
	}
	switch {
	case pr.Current > 0 || pr.Total > 0:
		m.Progress = &jsonstream.Progress{Current: pr.Current, Total: pr.Total}
		m.Bar = progressBar(pr.Current, pr.Total)
	case pr.ID != "" && !pr.Plain || pr.Pushed != nil:
		m.Progress = &jsonstream.Progress{}
	}
	return m
}

// progressBar renders docker's progress string: "[=====>      ]  1.2MB/3.4MB".
func progressBar(current, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("%8v", units.HumanSize(float64(current)))
	}
	const width = 50
	bar := ""
	if current <= total {
		n := int(float64(width) * float64(current) / float64(total))
		if n > width {
			n = width
		}
		bar = "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n) + "] "
	}
	return bar + fmt.Sprintf("%8v/%v", units.HumanSize(float64(current)), units.HumanSize(float64(total)))
}

// fail reports err: as the response when nothing was sent yet, else as the stream's last message.
func (p *progressStream) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		writeError(p.w, err)
		return
	}
	p.enc.Encode(wireMessage{Error: &jsonstream.Error{Message: err.Error()}, ErrorMsg: err.Error()})
}

// authFromRequest is the credentials a pull, push or search carries in X-Registry-Auth.
func authFromRequest(r *http.Request) distribution.Credentials {
	return credentialsFromHeader(r.Header.Get(registry.AuthHeader))
}

// credentialsFromHeader decodes X-Registry-Auth as dockerd does: base64url (padded or not) of an AuthConfig's
// JSON. An empty header is anonymous; an undecodable one is ignored, like dockerd, rather than failing.
func credentialsFromHeader(h string) distribution.Credentials {
	if h == "" {
		return distribution.Credentials{}
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	}
	var ac registry.AuthConfig
	if err != nil || json.Unmarshal(b, &ac) != nil {
		return distribution.Credentials{}
	}
	return credentials(ac)
}

// credentials converts Docker's AuthConfig. Its "auth" field (base64 of user:password, as config.json keeps it)
// stands in for a missing user name and password; one that does not decode is ignored.
func credentials(ac registry.AuthConfig) distribution.Credentials {
	c := distribution.Credentials{
		Username: ac.Username, Password: ac.Password,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
		ServerAddress: ac.ServerAddress,
	}
	if c.Username == "" && c.Password == "" && ac.Auth != "" {
		if b, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
			if user, pass, ok := strings.Cut(string(b), ":"); ok {
				c.Username, c.Password = user, pass
			}
		}
	}
	return c
}

// imagePull is POST /images/create?fromImage=NAME&tag=TAG|DIGEST&platform=P.
func (s *Server) imagePull(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ref := q.Get("fromImage")
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") || strings.HasPrefix(tag, "sha512:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %v", err)))
		return
	}
	if _, ok := named.(reference.Canonical); !ok {
		named = reference.TagNameOnly(named)
	}
	platform, err := distribution.ParsePlatform(q.Get("platform"))
	if err != nil {
		writeError(w, err)
		return
	}
	ps := newProgressStream(w)
	if _, err := s.b.Distribution.Pull(r.Context(), named, platform, authFromRequest(r), ps.send); err != nil {
		ps.fail(err)
	}
}

// imagePush is POST /images/{name}/push?tag=TAG.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) {
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %v", err)))
		return
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		writeError(w, errdefs.ErrInvalidArgument.WithMessage("cannot push a digest reference"))
		return
	}
	ps := newProgressStream(w)
	if err := s.b.Distribution.Push(r.Context(), tagged, authFromRequest(r), ps.send); err != nil {
		ps.fail(err)
	}
}

// auth is POST /auth: check credentials against a registry.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	var ac registry.AuthConfig
	if err := decodeBody(r, &ac); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.b.Distribution.Login(r.Context(), credentials(ac))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded", IdentityToken: res.IdentityToken})
}

// imageSearch is GET /images/search?term=&limit=.
func (s *Server) imageSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid limit %q", v)))
			return
		}
		limit = n
	}
	res, err := s.b.Distribution.Search(r.Context(), q.Get("term"), limit, authFromRequest(r))
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]registry.SearchResult, 0, len(res))
	for _, r := range res {
		out = append(out, registry.SearchResult{Name: r.Name, Description: r.Description, StarCount: r.Stars,
			IsOfficial: r.Official, IsAutomated: r.Automated})
	}
	writeJSON(w, http.StatusOK, out)
}
