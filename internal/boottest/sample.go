package boottest

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sampler reads the appliance's table local and fetches a VIP over and over
// while a scenario disturbs the service, to show that no sample ever lacked
// a route or went unanswered.
type Sampler struct {
	want []string
	url  string
	stop chan struct{}
	wg   sync.WaitGroup

	mu                            sync.Mutex
	routeSamples, httpSamples     int
	routeMisses, httpMisses       int
	firstRouteMiss, firstHTTPMiss string
}

// Sample starts sampling until Stop: the routes of protocol 241 must hold
// want (others may come and go), and url (when not "") must answer.
func (a *Appliance) Sample(want []string, url string) *Sampler {
	s := &Sampler{want: want, url: url, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for !s.stopped() {
			out, err := exec.Command("ip", "-n", a.VM.Name, "route", "show", "table", "local", "proto", "241").Output()
			have := map[string]bool{}
			for _, l := range strings.Split(string(out), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "local" {
					have[f[1]] = true
				}
			}
			var missing []string
			for _, w := range want {
				if !have[w] {
					missing = append(missing, w)
				}
			}
			s.mu.Lock()
			s.routeSamples++
			if err != nil || len(missing) > 0 {
				s.routeMisses++
				if s.firstRouteMiss == "" {
					s.firstRouteMiss = fmt.Sprintf("%s: missing %v (err %v)", time.Now().Format("15:04:05.000"), missing, err)
				}
			}
			s.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if url != "" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for !s.stopped() {
				_, err := a.httpGet(url, time.Second)
				s.mu.Lock()
				s.httpSamples++
				if err != nil {
					s.httpMisses++
					if s.firstHTTPMiss == "" {
						s.firstHTTPMiss = fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err)
					}
				}
				s.mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return s
}

func (s *Sampler) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// Stop ends sampling and says what went wrong ("" when nothing did). Too
// few samples to tell is a failure too.
func (s *Sampler) Stop() string {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	var problems []string
	if s.routeSamples < 10 {
		problems = append(problems, fmt.Sprintf("only %d samples of the table", s.routeSamples))
	}
	if s.routeMisses > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d samples of the table lacked a route of %v; first: %s", s.routeMisses, s.routeSamples, s.want, s.firstRouteMiss))
	}
	if s.url != "" && s.httpSamples < 5 {
		problems = append(problems, fmt.Sprintf("only %d requests to %s", s.httpSamples, s.url))
	}
	if s.httpMisses > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d requests to %s failed; first: %s", s.httpMisses, s.httpSamples, s.url, s.firstHTTPMiss))
	}
	return strings.Join(problems, "; ")
}

// Counts says how many samples were taken (for the log).
func (s *Sampler) Counts() (routes, http int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routeSamples, s.httpSamples
}

// sorted returns a sorted copy.
func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
