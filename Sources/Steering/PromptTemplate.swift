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

    /// `raw`, `chatml`, `llama3`, or a template containing `{prompt}`; `auto` is `raw` unless
    /// the model directory's tokenizer_config.json carries a chat template, which the
    /// workbench cannot run: then the error names the presets.
    public static func parse(_ spec: String, system: String = defaultSystem, modelDirectory: String?) throws -> PromptTemplate {
        switch spec {
        case "raw": return .raw
        case "chatml": return .chatml(system: system)
        case "llama3": return .llama3(system: system)
        case "auto":
            if let dir = modelDirectory {
                let path = (dir as NSString).appendingPathComponent("tokenizer_config.json")
                if let data = try? readFile(path),
                   let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object["chat_template"] != nil {
                    throw WorkbenchError("carries a chat template, which the workbench does not run; choose --template chatml (Qwen), llama3, raw, or your own text with {prompt}", file: path)
                }
            }
            return .raw
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
