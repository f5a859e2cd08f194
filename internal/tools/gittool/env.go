package gittool

import "github.com/bulwarkhq/bulwark/internal/sandbox"

// forcedConfig is passed as -c before every subcommand. Command-line
// config has the highest precedence and is inherited by every git process
// the command spawns. Together with the repository-config allowlist it
// guarantees no config-driven program runs and no protocol but https is
// used. Values that name a program point at /bin/false or are empty.
var forcedConfig = []string{
	"core.fsmonitor=false",
	"core.hooksPath=/dev/null",
	"core.sshCommand=/bin/false",
	"core.gitProxy=",
	"core.askPass=",
	"core.editor=/bin/false",
	"core.pager=cat",
	"core.alternateRefsCommand=",
	"core.untrackedCache=false",
	"core.protectNTFS=true",
	"core.protectHFS=true",
	"sequence.editor=/bin/false",
	"diff.external=",
	"credential.helper=",
	"protocol.allow=never",
	"protocol.file.allow=never",
	"protocol.ext.allow=never",
	"protocol.ssh.allow=never",
	"protocol.git.allow=never",
	"protocol.http.allow=never",
	"submodule.recurse=false",
	"fetch.recurseSubmodules=false",
	"push.recurseSubmodules=no",
	"diff.ignoreSubmodules=all",
	"status.submoduleSummary=false",
	"uploadpack.packObjectsHook=",
	"gpg.program=/bin/false",
	"gpg.ssh.program=/bin/false",
	"gpg.x509.program=/bin/false",
	"commit.gpgSign=false",
	"tag.gpgSign=false",
	"push.gpgSign=false",
	"log.showSignature=false",
	"init.templateDir=",
	"transfer.fsckObjects=true",
	"gc.auto=0",
	"maintenance.auto=false",
	"color.ui=false",
	"http.sslVerify=true",
	"http.followRedirects=false",
	"http.emptyAuth=false",
}

// argv builds the full git command line run inside the sandbox.
func (r *Runner) argv(p Parsed, args []string) []string {
	argv := []string{r.gitPath}
	for _, c := range forcedConfig {
		argv = append(argv, "-c", c)
	}
	if p.Network {
		argv = append(argv, "-c", "protocol.https.allow=always",
			"-c", "http.proxy="+r.proxy.URL(), "-c", "http.proxyAuthMethod=basic")
		if r.caFile != "" {
			argv = append(argv, "-c", "http.sslCAInfo="+r.caFile)
		}
	} else {
		argv = append(argv, "-c", "protocol.https.allow=never")
	}
	argv = append(argv, args[0])
	argv = append(argv, commands[args[0]].forced...)
	return append(argv, args[1:]...)
}

// baseEnv is the complete environment of a git process: nothing is
// inherited from Bulwark. HOME is the sandbox's private, empty /tmp.
func (r *Runner) baseEnv(network bool) []string {
	allow := "none"
	if network {
		allow = "https"
	}
	return []string{
		"PATH=/usr/bin:/bin",
		"HOME=/tmp",
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_ATTR_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ALLOW_PROTOCOL=" + allow,
		"GIT_PROTOCOL_FROM_USER=0",
		"GIT_OPTIONAL_LOCKS=0",
		"GIT_CEILING_DIRECTORIES=" + sandbox.WorkspaceMount,
		"GIT_AUTHOR_NAME=" + r.author,
		"GIT_AUTHOR_EMAIL=" + r.email,
		"GIT_COMMITTER_NAME=" + r.author,
		"GIT_COMMITTER_EMAIL=" + r.email,
	}
}

// env adds the repository location: the workspace itself, never a
// directory found by walking up (clone creates its own).
func (r *Runner) env(p Parsed) []string {
	env := r.baseEnv(p.Network)
	if p.Sub != "clone" {
		env = append(env, "GIT_DIR="+sandbox.WorkspaceMount+"/.git", "GIT_WORK_TREE="+sandbox.WorkspaceMount)
	}
	return env
}
