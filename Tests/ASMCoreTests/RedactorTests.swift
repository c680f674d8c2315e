import ASMCore
import Testing

@Suite struct RedactorTests {
    let redactor = Redactor()

    @Test(
        "secrets of the common providers and clouds are redacted",
        arguments: [
            ("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD end", "key [REDACTED:anthropic-key] end"),
            ("OPENAI=sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56", "OPENAI=[REDACTED:openai-key]"),
            ("old sk-0123456789abcdefghijABCDEFGHIJ", "old [REDACTED:openai-key]"),
            ("id AKIAIOSFODNN7EXAMPLE.", "id [REDACTED:aws-access-key]."),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key = [REDACTED:aws-secret-key]"
            ),
            (
                "AWS_SECRET_ACCESS_KEY: \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYextra\" x",
                "AWS_SECRET_ACCESS_KEY: \"[REDACTED:aws-secret-key]\" x"
            ),
            ("token ghp_0123456789abcdefghijklmnopqrstuvwxyz", "token [REDACTED:github-token]"),
            ("github_pat_11ABCDEFG0123456789_abcdefghij", "[REDACTED:github-token]"),
            ("glpat-abcdefghij0123456789", "[REDACTED:gitlab-token]"),
            ("slack xoxb-1234567890-abcdefghijk", "slack [REDACTED:slack-token]"),
            ("maps AIzaSyA1234567890abcdefghijklmnopqrstuv", "maps [REDACTED:google-api-key]"),
            ("sk_live_0123456789abcdefghijklmn", "[REDACTED:stripe-key]"),
            ("AMP_API_KEY=sgamp_user_0123456789abcdefghij", "AMP_API_KEY=[REDACTED:amp-key]"),
            ("hf_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:huggingface-token]"),
            ("Authorization: Bearer abcDEF123456._-~+/ghijKL==", "Authorization: Bearer [REDACTED:bearer-token]"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt [REDACTED:jwt]"
            ),
            (
                "postgres://app:s3cr3t-P%40ss@db.internal:5432/main",
                "postgres://app:[REDACTED:password]@db.internal:5432/main"
            ),
            (
                "mongodb+srv://admin:hunter2@cluster0.example.net/x",
                "mongodb+srv://admin:[REDACTED:password]@cluster0.example.net/x"
            ),
        ]
    )
    func patterns(input: String, expected: String) {
        #expect(redactor.redact(input) == expected)
    }

    @Test("PEM private keys are removed whole")
    func privateKey() {
        let text = """
            before
            -----BEGIN RSA PRIVATE KEY-----
            MIIEpAIBAAKCAQEA7Z1a
            c2VjcmV0
            -----END RSA PRIVATE KEY-----
            after
            """
        #expect(redactor.redact(text) == "before\n[REDACTED:private-key]\nafter")
        #expect(
            redactor.redact("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n(truncated") == "[REDACTED:private-key]"
        )
    }

    @Test(
        "ordinary text is left exactly as it was",
        arguments: [
            "Use task-list and risk-free desk-top layouts.", "the bearer of bad news", "Bearer token goes here",
            "https://example.com/path?query=1", "postgres://localhost:5432/db", "user@example.com",
            "ASKING for AKIA is not a key", "sk-short", "ghp_short", "eyJ alone", "-----BEGIN PUBLIC KEY-----",
            "ratio 1:2 at http://host:8080/x", "日本語 and émojis 🙂 stay",
        ]
    )
    func untouched(text: String) {
        #expect(redactor.redact(text) == text)
    }

    @Test("exact values of secret environment variables are redacted; other variables are not")
    func environmentSecrets() {
        let redactor = Redactor(environment: [
            "MY_SERVICE_TOKEN": "tok_live_value_42", "DB_PASSWORD": "correct horse", "HOME": "/home/user",
            "SHORT_KEY": "abc", "PWD": "/home/user/project", "OLDPWD": "/home/user/elsewhere",
            "SSH_AUTH_SOCK": "/tmp/ssh-XXXXabcd/agent.4242",
        ])
        let text =
            "token=tok_live_value_42 pw=correct horse home=/home/user short=abc "
            + "cwd=/home/user/project/Sources was=/home/user/elsewhere agent=/tmp/ssh-XXXXabcd/agent.4242"
        // The working directory and the agent socket are paths, whatever their names say.
        #expect(
            redactor.redact(text)
                == "token=[REDACTED:env:MY_SERVICE_TOKEN] pw=[REDACTED:env:DB_PASSWORD] home=/home/user short=abc "
                + "cwd=/home/user/project/Sources was=/home/user/elsewhere agent=/tmp/ssh-XXXXabcd/agent.4242"
        )
    }

    @Test("every text an event carries is redacted, including nested tool input")
    func events() {
        let key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
        let started = redactor.redact(
            SessionEvent.toolCallStarted(
                ToolCallStarted(callID: "c", name: "Bash", input: ["env": ["KEY": .string(key)]])
            )
        )
        #expect(
            started
                == .toolCallStarted(
                    ToolCallStarted(callID: "c", name: "Bash", input: ["env": ["KEY": "[REDACTED:anthropic-key]"]])
                )
        )
        let failed = redactor.redact(
            SessionEvent.runFailed(
                RunFailed(failure: RunFailure(kind: .apiError, message: "bad key \(key)", stderr: "echo \(key)"))
            )
        )
        guard case .runFailed(let payload) = failed else {
            Issue.record("expected a failure")
            return
        }
        #expect(!payload.failure.message.contains(key) && payload.failure.stderr?.contains(key) == false)
    }
}
