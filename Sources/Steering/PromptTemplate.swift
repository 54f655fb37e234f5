import Foundation
import Model

/// How a problem's text becomes the model's prompt.
public enum PromptTemplate: Sendable, Equatable, Codable {
    /// The problem text as it is (base models, the embedded model).
    case raw
    /// Qwen's ChatML with a system line.
    case chatml(system: String)
    /// Llama 3's chat format with a system line.
    case llama3(system: String)
    /// A user template: `{prompt}` is replaced by the problem text.
    case custom(String)

    /// The system line of the published steering code.
    public static let defaultSystem = "Please reason step by step, and put your final answer within \\boxed{}."
    /// Asks `parse` for the model's own template's default system line.
    public static let templateSystem = "template"

    /// `raw`, `chatml`, `llama3`, or a template containing `{prompt}`. `auto` follows the
    /// model's own chat template (`ModelSource.chatTemplate`): none gives `raw`; one of the
    /// ChatML or Llama 3 families gives that preset, rendered as the model's template renders a
    /// system + user message with the generation prompt; any other template is refused with
    /// the presets named, never silently replaced by `raw`.
    ///
    /// `system` is the system line of the chat presets; `SystemLine.template` takes the model's
    /// own template's default system line (SmolLM2's "You are a helpful AI assistant named
    /// SmolLM, …"), what the template writes when the messages hold no system message.
    public static func parse(_ spec: String, system requested: String = defaultSystem,
                             chatTemplate: (text: String, file: String)?) throws -> PromptTemplate {
        var system = requested
        if requested == templateSystem {
            guard let chatTemplate, let line = ChatTemplateFamily.defaultSystemLine(in: chatTemplate.text) else {
                throw WorkbenchError("--system template: the model's chat template has no default system line of its own", file: chatTemplate?.file)
            }
            system = line
        }
        switch spec {
        case "raw": return .raw
        case "chatml": return .chatml(system: system)
        case "llama3": return .llama3(system: system)
        case "auto":
            guard let chatTemplate else { return .raw }
            switch ChatTemplateFamily(recognising: chatTemplate.text) {
            case .chatml: return .chatml(system: system)
            case .llama3: return .llama3(system: system)
            case nil:
                throw WorkbenchError("carries a chat template of neither the ChatML nor the Llama 3 family, which the workbench does not run; choose --template chatml, llama3, raw, or your own text with {prompt}", file: chatTemplate.file)
            }
        default:
            guard spec.contains("{prompt}") else {
                throw WorkbenchError("--template: '\(spec)' is not raw, chatml, llama3, auto or a template containing {prompt}")
            }
            return .custom(spec)
        }
    }

    public func render(_ problem: String) -> String {
        switch self {
        case .raw: return problem
        case .chatml(let system):
            return "<|im_start|>system\n\(system)<|im_end|>\n<|im_start|>user\n\(problem)<|im_end|>\n<|im_start|>assistant\n"
        case .llama3(let system):
            // <|begin_of_text|> comes from the tokenizer's post-processor.
            return "<|start_header_id|>system<|end_header_id|>\n\n\(system)<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\n\(problem)<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        case .custom(let template): return template.replacingOccurrences(of: "{prompt}", with: problem)
        }
    }

    public var name: String {
        switch self {
        case .raw: return "raw"
        case .chatml: return "chatml"
        case .llama3: return "llama3"
        case .custom(let t): return t
        }
    }
}

/// The chat-template families whose rendering of one system + user message the presets
/// reproduce exactly (checked against transformers' `apply_chat_template` on SmolLM2's,
/// Qwen2.5's and Llama 3's templates, docs/models.md).
public enum ChatTemplateFamily: Sendable {
    case chatml, llama3

    /// The system line a ChatML template writes when the messages hold none: the literal text
    /// between `<|im_start|>system\n` and `<|im_end|>` in one of its quoted strings (SmolLM2's,
    /// Qwen2.5's); nil when there is none or it is built from expressions.
    public static func defaultSystemLine(in template: String) -> String? {
        // The newline after "system" is written either as Jinja's escape \n or as a newline.
        let openings = ["'", "\""].flatMap { quote in ["\\n", "\n"].map { (quote, quote + "<|im_start|>system" + $0) } }
        for (quote, opening) in openings {
            var from = template.startIndex
            while let start = template.range(of: opening, range: from..<template.endIndex) {
                from = start.upperBound
                guard let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex) else { break }
                let line = String(template[start.upperBound..<end.lowerBound])
                if !line.isEmpty, !line.contains(quote), !line.contains("{{"), !line.contains("{%") {
                    return line.replacingOccurrences(of: "\\n", with: "\n")
                }
            }
        }
        return nil
    }

    /// The family of a Jinja chat template, by the markers it writes; nil for any other,
    /// including Llama 3.1's (it adds date lines to the system message).
    public init?(recognising template: String) {
        if template.contains("<|im_start|>"), template.contains("<|im_end|>") {
            self = .chatml
        } else if template.contains("<|start_header_id|>"), template.contains("<|eot_id|>"),
                  !template.contains("Cutting Knowledge Date") {
            self = .llama3
        } else {
            return nil
        }
    }
}
